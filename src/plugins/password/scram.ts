/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677), server side: the credential a password file holds, and the
 * exchange an MQTT 5 enhanced authentication (AUTH packets) drives.
 *
 * A password file entry is one token with no `:`, so it fits a `user:hash` line:
 *
 *   $scram-sha-256$ITERATIONS$SALT$STOREDKEY$SERVERKEY
 *
 * with SALT, STOREDKEY and SERVERKEY in standard, padded base-64. It holds what the server needs
 * and nothing a client could log in with: StoredKey = H(ClientKey) and ServerKey, not the
 * SaltedPassword.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Hasher, IN_THREAD } from "./hasher.ts";

/** How every SCRAM-SHA-256 password file entry starts. */
export const SCRAM_ENTRY_PREFIX = "$scram-sha-256$";
/** Iterations of new entries and of the made-up ones shown for unknown users (RFC 7677's minimum). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
/** Salt bytes of new entries and of the made-up ones shown for unknown users. */
export const SCRAM_DEFAULT_SALT_BYTES = 16;

// A typo in a file must not make every login burn minutes of a worker thread.
const MAX_ITERATIONS = 10_000_000;
const KEY_BYTES = 32;
// Every client message fits easily: the longest field is the user name.
const MAX_MESSAGE_BYTES = 1024;
// RFC 5802 asks for a nonce that is hard to predict; 18 bytes make 24 base-64 characters, no padding.
const SERVER_NONCE_BYTES = 18;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// RFC 3454 table B.1: removed.
const MAPPED_TO_NOTHING =
  /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
// RFC 3454 table C.1.2: SASLprep maps these to SPACE, and prohibits any left after NFKC.
const NON_ASCII_SPACES = String.raw`\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000`;
const PROHIBITED = new RegExp(
  "[" + [
    NON_ASCII_SPACES,
    String.raw`\u0000-\u001F\u007F`, // C.2.1 ASCII controls
    String
      .raw`\u0080-\u009F\u06DD\u070F\u180E\u200C\u200D\u2028\u2029\u2060-\u2063\u206A-\u206F\uFEFF\u{1D173}-\u{1D17A}`, // C.2.2
    String.raw`\uE000-\uF8FF\u{F0000}-\u{FFFFD}\u{100000}-\u{10FFFD}`, // C.3 private use
    String.raw`\uD800-\uDFFF`, // C.5 surrogates (only lone ones can match)
    String.raw`\uFFF9-\uFFFD`, // C.6
    String.raw`\u2FF0-\u2FFB`, // C.7
    String.raw`\u0340\u0341\u200E\u200F\u202A-\u202E`, // C.8
    String.raw`\u{E0001}\u{E0020}-\u{E007F}`, // C.9
  ].join("") + String.raw`]|\p{Noncharacter_Code_Point}`, // C.4
  "u",
);
const NON_ASCII_SPACE = new RegExp(`[${NON_ASCII_SPACES}]`, "gu");

/**
 * SASLprep (RFC 4013) of `text` as a query string, the `Normalize` of RFC 5802. Implemented: the
 * mapping (table B.1 removed, table C.1.2 spaces to U+0020), NFKC normalization, and every
 * prohibition of RFC 4013 §2.3 (tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9).
 * Not implemented: the bidirectional check of §2.4 (RFC 3454 §6; JavaScript has no Bidi_Class
 * test), so a string mixing right-to-left and left-to-right characters is accepted as it is.
 * Unassigned code points are allowed (query-string semantics), and NFKC is the runtime's current
 * Unicode, not Unicode 3.2, which only differs for code points unassigned in 3.2.
 * Throws a RangeError naming the first prohibited character; `what` names the text in it.
 */
export function saslprep(text: string, what = "string"): string {
  const normal = text.replace(MAPPED_TO_NOTHING, "").replace(NON_ASCII_SPACE, " ")
    .normalize("NFKC");
  const bad = PROHIBITED.exec(normal);
  if (bad) {
    const code = bad[0].codePointAt(0) ?? 0;
    throw new RangeError(
      `${what} contains U+${
        code.toString(16).toUpperCase().padStart(4, "0")
      }, which SASLprep (RFC 4013) prohibits`,
    );
  }
  return normal;
}

/** What the server keeps of a password (RFC 5802 §3). */
export interface ScramCredential {
  /** PBKDF2 iteration count. */
  iterations: number;
  salt: Uint8Array;
  /** H(ClientKey): checks a client's proof. */
  storedKey: Uint8Array;
  /** HMAC(SaltedPassword, "Server Key"): signs the server's final message. */
  serverKey: Uint8Array;
}

/** A password file entry that cannot be used; the message says what is wrong, never the entry. */
export class ScramEntryError extends Error {
  /** Builds the error. */
  constructor(problem: string) {
    super(`invalid SCRAM-SHA-256 entry: ${problem}`);
    this.name = "ScramEntryError";
  }
}

function hmac(key: Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash("sha256").update(data).digest();
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** Standard padded base-64 only: Buffer skips what it does not know, so re-encoding must agree. */
function decodeBase64(text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, "base64");
  return bytes.length > 0 && bytes.toString("base64") === text ? bytes : undefined;
}

function iterationsProblem(iterations: number, min: number): string | undefined {
  return Number.isInteger(iterations) && iterations >= min && iterations <= MAX_ITERATIONS
    ? undefined
    : `iterations must be an integer from ${min} to ${MAX_ITERATIONS}, not ${iterations}`;
}

function credentialProblem(c: ScramCredential): string | undefined {
  if (c.salt.length === 0) return "the salt is empty";
  if (c.storedKey.length !== KEY_BYTES) return `StoredKey must be ${KEY_BYTES} bytes`;
  if (c.serverKey.length !== KEY_BYTES) return `ServerKey must be ${KEY_BYTES} bytes`;
  return iterationsProblem(c.iterations, 1);
}

/**
 * Derives the credential of `password` (SASLprep'd first) for `salt` and `iterations`:
 * SaltedPassword = PBKDF2-HMAC-SHA-256, ClientKey, StoredKey and ServerKey as RFC 5802 §3.
 * PBKDF2 runs on `hasher` (by default in the runtime's thread pool). Rejects with a RangeError on a password SASLprep prohibits or
 * an iteration count outside 1 to 10,000,000.
 */
export async function deriveScramCredential(
  password: string,
  salt: Uint8Array,
  iterations: number,
  hasher: Hasher = IN_THREAD,
): Promise<ScramCredential> {
  const problem = iterationsProblem(iterations, 1);
  if (problem) throw new RangeError(problem);
  const normal = encoder.encode(saslprep(password, "the password"));
  const salted = await hasher.pbkdf2(normal, salt, iterations, KEY_BYTES, "sha256");
  return {
    iterations,
    salt,
    storedKey: sha256(hmac(salted, "Client Key")),
    serverKey: hmac(salted, "Server Key"),
  };
}

/** The password file entry for `credential`; throws {@link ScramEntryError} if it is not valid. */
export function formatScramEntry(credential: ScramCredential): string {
  const problem = credentialProblem(credential);
  if (problem) throw new ScramEntryError(problem);
  const { iterations, salt, storedKey, serverKey } = credential;
  return `${SCRAM_ENTRY_PREFIX}${iterations}$${base64(salt)}$${base64(storedKey)}$${
    base64(serverKey)
  }`;
}

/**
 * Parses a password file entry written by {@link formatScramEntry}. Throws
 * {@link ScramEntryError} naming the first problem: another prefix, a wrong number of fields, an
 * iteration count that is not a decimal from 1 to 10,000,000, a field that is not standard
 * base-64, or a key that is not 32 bytes.
 */
export function parseScramEntry(entry: string): ScramCredential {
  if (!entry.startsWith(SCRAM_ENTRY_PREFIX)) {
    throw new ScramEntryError(`it does not start with ${SCRAM_ENTRY_PREFIX}`);
  }
  const fields = entry.slice(SCRAM_ENTRY_PREFIX.length).split("$");
  if (fields.length !== 4) {
    throw new ScramEntryError(
      `expected ${SCRAM_ENTRY_PREFIX}ITERATIONS$SALT$STOREDKEY$SERVERKEY, ` +
        `found ${fields.length} fields after the prefix instead of 4`,
    );
  }
  const [count, ...encoded] = fields;
  if (!/^[1-9][0-9]{0,9}$/.test(count)) {
    throw new ScramEntryError("the iteration count is not a positive decimal number");
  }
  const [salt, storedKey, serverKey] = encoded.map((text, i) => {
    const bytes = decodeBase64(text);
    if (bytes) return bytes;
    throw new ScramEntryError(`the ${["salt", "StoredKey", "ServerKey"][i]} is not base-64`);
  });
  const credential = { iterations: Number(count), salt, storedKey, serverKey };
  const problem = credentialProblem(credential);
  if (problem) throw new ScramEntryError(problem);
  return credential;
}

/** Options for {@link createScramEntry}. */
export interface ScramEntryOptions {
  /** PBKDF2 iterations, 4096 (RFC 7677's minimum, the default) to 10,000,000. */
  iterations?: number;
  /** Random salt bytes, 8 to 64; default 16. */
  saltBytes?: number;
}

/**
 * A new password file entry for `password` with a fresh random salt. Rejects with a RangeError on
 * options out of range or a password SASLprep prohibits.
 */
export async function createScramEntry(
  password: string,
  options: ScramEntryOptions = {},
): Promise<string> {
  const iterations = options.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const saltBytes = options.saltBytes ?? SCRAM_DEFAULT_SALT_BYTES;
  const problem = iterationsProblem(iterations, SCRAM_DEFAULT_ITERATIONS);
  if (problem) throw new RangeError(problem);
  if (!Number.isInteger(saltBytes) || saltBytes < 8 || saltBytes > 64) {
    throw new RangeError(`saltBytes must be an integer from 8 to 64, not ${saltBytes}`);
  }
  return formatScramEntry(
    await deriveScramCredential(password, randomBytes(saltBytes), iterations),
  );
}

/**
 * Whether a plain password (as MQTT CONNECT carries it) matches a SCRAM entry, so a user with one
 * can log in either way. A malformed entry, a password that is not UTF-8 or that SASLprep
 * prohibits never matches.
 */
export function verifyPlainAgainstScram(
  password: string | Uint8Array,
  entry: string,
  hasher: Hasher = IN_THREAD,
): Promise<boolean> {
  let credential: ScramCredential;
  try {
    credential = parseScramEntry(entry);
  } catch {
    return Promise.resolve(false);
  }
  return verifyPlainAgainstCredential(password, credential, hasher);
}

/** {@link verifyPlainAgainstScram} against an entry already parsed. */
export async function verifyPlainAgainstCredential(
  password: string | Uint8Array,
  credential: ScramCredential,
  hasher: Hasher = IN_THREAD,
): Promise<boolean> {
  try {
    const text = typeof password === "string" ? password : strictUtf8.decode(password);
    const derived = await deriveScramCredential(
      text,
      credential.salt,
      credential.iterations,
      hasher,
    );
    return timingSafeEqual(derived.storedKey, credential.storedKey);
  } catch {
    return false;
  }
}

/**
 * Why an exchange failed, as RFC 5802's `server-error-value`: the server-final message for a
 * failure is `e=` followed by it. Unknown users get `invalid-proof`, as wrong passwords do.
 */
export type ScramServerError =
  | "invalid-encoding"
  | "extensions-not-supported"
  | "invalid-proof"
  | "channel-bindings-dont-match"
  | "channel-binding-not-supported"
  | "invalid-username-encoding"
  | "other-error";

/** A failed step. The exchange is over. */
export interface ScramFailure {
  /** Safe to tell the client. */
  fail: ScramServerError;
  /** For the server's log only: it tells an unknown user from a wrong password. */
  detail: string;
}

/** The outcome of {@link ScramServer.start}: the server-first message to send, or a failure. */
export type ScramStartResult = { continue: Uint8Array } | ScramFailure;

/**
 * The outcome of {@link ScramServer.finish}: the server-final message (`v=ServerSignature`) to send
 * with the success and the authenticated user name, or a failure.
 */
export type ScramFinishResult = { success: Uint8Array; username: string } | ScramFailure;

/**
 * Finds the password file entry of a user name. Anything but a SCRAM entry (undefined, another
 * scheme, a malformed entry) is treated as an unknown user.
 */
export type ScramLookup = (username: string) => string | undefined | Promise<string | undefined>;

/** Options for {@link ScramServer}. */
export interface ScramServerOptions {
  /**
   * Makes the server's part of the nonce (printable ASCII but `,`); default 18 random bytes in
   * base-64. Only tests replace it.
   */
  serverNonce?: () => string;
  /**
   * Keys the made-up salt shown for unknown users, so that it stays the same for a name; default a
   * random secret per process. Nodes that serve the same users should share one.
   */
  fakeSaltSecret?: Uint8Array;
  /** The iteration count shown for unknown users; default 4096. Match what real entries use. */
  fakeIterations?: number;
}

const PROCESS_SECRET = randomBytes(32);
const PRINTABLE = /^[\x21-\x2B\x2D-\x7E]+$/;
const EXTENSION = /^[A-Za-z]=.+$/;

function failure(fail: ScramServerError, detail: string): ScramFailure {
  return { fail, detail };
}

function isFailure<T extends object>(value: T | ScramFailure): value is ScramFailure {
  return "fail" in value;
}

function decodeMessage(bytes: Uint8Array, name: string): string | ScramFailure {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    return failure("other-error", `${name} is longer than ${MAX_MESSAGE_BYTES} bytes`);
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return failure("invalid-encoding", `${name} is not UTF-8`);
  }
  return text.includes("\0") ? failure("invalid-encoding", `${name} holds a NUL`) : text;
}

/** A `saslname`: `=` only as `=2C` (`,`) or `=3D` (`=`). */
function decodeSaslname(text: string): string | undefined {
  if (text === "" || /=(?!2C|3D)/.test(text)) return undefined;
  return text.replace(/=(2C|3D)/g, (_, hex) => hex === "2C" ? "," : "=");
}

interface ClientFirst {
  gs2Header: string;
  bare: string;
  username: string;
  clientNonce: string;
}

function parseClientFirst(bytes: Uint8Array): ClientFirst | ScramFailure {
  const text = decodeMessage(bytes, "client-first-message");
  if (typeof text !== "string") return text;
  if (text.startsWith("p=")) {
    return failure(
      "channel-binding-not-supported",
      "the client requires channel binding, which this server does not offer",
    );
  }
  // "y" is a client that could bind but believes we cannot: true, so no downgrade to detect.
  const end = text.indexOf(",", 2);
  if ((text[0] !== "n" && text[0] !== "y") || text[1] !== "," || end < 0) {
    return failure("invalid-encoding", "expected the GS2 header n,, or y,,");
  }
  const authzidField = text.slice(2, end);
  let authzid: string | undefined;
  if (authzidField !== "") {
    if (!authzidField.startsWith("a=")) {
      return failure("invalid-encoding", "expected a= or nothing in the GS2 header");
    }
    authzid = decodeSaslname(authzidField.slice(2));
    if (authzid === undefined) {
      return failure("invalid-username-encoding", "the authorization identity is badly escaped");
    }
  }
  const bare = text.slice(end + 1);
  const [user, nonce, ...extensions] = bare.split(",");
  if (user.startsWith("m=")) {
    return failure("extensions-not-supported", "the client requires an extension (m=)");
  }
  if (!user.startsWith("n=")) return failure("invalid-encoding", "expected n=USERNAME");
  const username = decodeSaslname(user.slice(2));
  if (username === undefined) {
    return failure("invalid-username-encoding", "the user name is empty or badly escaped");
  }
  if (nonce === undefined || !nonce.startsWith("r=") || !PRINTABLE.test(nonce.slice(2))) {
    return failure("invalid-encoding", "expected r=NONCE of printable characters after n=");
  }
  if (!extensions.every((e) => EXTENSION.test(e))) {
    return failure("invalid-encoding", "malformed attribute after r=");
  }
  if (authzid !== undefined && authzid !== username) {
    return failure("other-error", "the authorization identity differs from the user name");
  }
  return { gs2Header: text.slice(0, end + 1), bare, username, clientNonce: nonce.slice(2) };
}

interface Started {
  username: string;
  /** Undefined for an unknown user: the exchange runs on, and fails at the proof. */
  credential: ScramCredential | undefined;
  channelBinding: string;
  nonce: string;
  /** client-first-message-bare "," server-first-message: the start of the AuthMessage. */
  authPrefix: string;
}

function entryCredential(entry: string | undefined): ScramCredential | undefined {
  if (entry === undefined) return undefined;
  try {
    return parseScramEntry(entry);
  } catch {
    return undefined;
  }
}

/**
 * One SCRAM-SHA-256 exchange, server side, without channel binding: {@link ScramServer.start}
 * with the client-first message, then {@link ScramServer.finish} with the client-final message.
 * Bad client input is a {@link ScramFailure}, never an exception, and ends the exchange; so does
 * calling a step out of order. An unknown user gets a server-first message of the same shape as a
 * known one (a made-up salt that is stable per user name, the fake iteration count) and fails at
 * the proof.
 */
export class ScramServer {
  readonly #serverNonce: () => string;
  readonly #fakeSaltSecret: Uint8Array;
  readonly #fakeIterations: number;
  #step: "start" | "lookup" | "finish" | "done" = "start";
  #started: Started | undefined;

  /** Throws a RangeError on options out of range. */
  constructor(options: ScramServerOptions = {}) {
    this.#serverNonce = options.serverNonce ??
      (() => randomBytes(SERVER_NONCE_BYTES).toString("base64"));
    this.#fakeSaltSecret = options.fakeSaltSecret ?? PROCESS_SECRET;
    this.#fakeIterations = options.fakeIterations ?? SCRAM_DEFAULT_ITERATIONS;
    const problem = iterationsProblem(this.#fakeIterations, 1);
    if (problem) throw new RangeError(`fakeIterations: ${problem}`);
    if (this.#fakeSaltSecret.length === 0) throw new RangeError("fakeSaltSecret is empty");
  }

  /**
   * Reads the client-first message, looks the user up and answers with the server-first message.
   * A lookup that throws fails the exchange (`other-error`, its message in `detail`).
   */
  async start(clientFirst: Uint8Array, lookup: ScramLookup): Promise<ScramStartResult> {
    if (this.#step !== "start") return this.#outOfOrder("start");
    this.#step = "done";
    const first = parseClientFirst(clientFirst);
    if (isFailure(first)) return first;
    this.#step = "lookup";
    let entry: string | undefined;
    try {
      entry = await lookup(first.username);
    } catch (e) {
      this.#step = "done";
      return failure("other-error", `looking up the user failed: ${(e as Error).message}`);
    }
    // A step called while the lookup ran has ended the exchange.
    if (this.#step !== "lookup") return this.#outOfOrder("start");
    const credential = entryCredential(entry);
    const serverNonce = this.#serverNonce();
    if (!PRINTABLE.test(serverNonce)) {
      throw new TypeError("serverNonce must return printable ASCII characters other than ','");
    }
    const nonce = first.clientNonce + serverNonce;
    const salt = credential?.salt ??
      hmac(this.#fakeSaltSecret, first.username).subarray(0, SCRAM_DEFAULT_SALT_BYTES);
    const iterations = credential?.iterations ?? this.#fakeIterations;
    const serverFirst = `r=${nonce},s=${base64(salt)},i=${iterations}`;
    this.#started = {
      username: first.username,
      credential,
      channelBinding: base64(encoder.encode(first.gs2Header)),
      nonce,
      authPrefix: `${first.bare},${serverFirst}`,
    };
    this.#step = "finish";
    return { continue: encoder.encode(serverFirst) };
  }

  /** Checks the client-final message and its proof; on success answers with `v=ServerSignature`. */
  finish(clientFinal: Uint8Array): ScramFinishResult {
    const started = this.#started;
    if (this.#step !== "finish" || started === undefined) return this.#outOfOrder("finish");
    this.#step = "done";
    this.#started = undefined;
    const text = decodeMessage(clientFinal, "client-final-message");
    if (typeof text !== "string") return text;
    const fields = text.split(",");
    const proofField = fields[fields.length - 1];
    if (
      fields.length < 3 || !fields[0].startsWith("c=") || !fields[1].startsWith("r=") ||
      !proofField.startsWith("p=") || !fields.slice(2, -1).every((e) => EXTENSION.test(e))
    ) {
      return failure("invalid-encoding", "expected c=...,r=...,p=...");
    }
    if (fields[0].slice(2) !== started.channelBinding) {
      return failure("channel-bindings-dont-match", "c= is not the base-64 of the GS2 header");
    }
    if (fields[1].slice(2) !== started.nonce) {
      return failure("other-error", "r= is not the nonce of this exchange");
    }
    const proof = decodeBase64(proofField.slice(2));
    if (proof === undefined || proof.length !== KEY_BYTES) {
      return failure("invalid-encoding", `p= is not the base-64 of ${KEY_BYTES} bytes`);
    }
    const authMessage = `${started.authPrefix},${text.slice(0, -proofField.length - 1)}`;
    // An unknown user goes through the same work, against a key nobody knows.
    const storedKey = started.credential?.storedKey ?? randomBytes(KEY_BYTES);
    const signature = hmac(storedKey, authMessage);
    const clientKey = proof.map((b, i) => b ^ signature[i]);
    const matches = timingSafeEqual(sha256(clientKey), storedKey);
    if (!matches || started.credential === undefined) {
      return failure(
        "invalid-proof",
        started.credential
          ? `wrong proof for user ${JSON.stringify(started.username)}`
          : `user ${JSON.stringify(started.username)} has no SCRAM-SHA-256 credential`,
      );
    }
    const serverSignature = hmac(started.credential.serverKey, authMessage);
    return {
      success: encoder.encode(`v=${base64(serverSignature)}`),
      username: started.username,
    };
  }

  #outOfOrder(step: string): ScramFailure {
    this.#step = "done";
    this.#started = undefined;
    return failure("other-error", `${step} called out of order; the exchange is over`);
  }
}
