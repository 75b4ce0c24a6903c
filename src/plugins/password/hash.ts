/**
 * Password hashes: verification of every scheme the password file may hold, and creation of new ones.
 *
 * Schemes: `$7$` (Mosquitto 2, PBKDF2-SHA512), `$6$` and `$5$` SHA-crypt (glibc, `openssl passwd`),
 * Mosquitto 1.x's `$6$base64salt$base64hash`, told apart from SHA-crypt by its base-64 shape, and
 * `$scram-sha-256$` SCRAM credentials (see `scram.ts`), which a plain password is checked against too.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  formatMosquittoHash,
  MOSQUITTO_DEFAULT_ITERATIONS,
  MOSQUITTO_HASH_BYTES,
  MOSQUITTO_SALT_BYTES,
  mosquittoDigest,
  parseMosquittoHash,
} from "./mosquitto.ts";
import {
  CRYPT_ALPHABET,
  parseShaCrypt,
  SHA_CRYPT_DEFAULT_ROUNDS,
  SHA_CRYPT_DIGEST_LENGTH,
  shaCrypt,
  shaCryptInput,
} from "./sha_crypt.ts";
import { type Hasher, IN_THREAD } from "./hasher.ts";
import {
  formatScramEntry,
  parseScramEntry,
  SCRAM_ENTRY_PREFIX,
  type ScramCredential,
  verifyPlainAgainstCredential,
} from "./scram.ts";

/** The hash schemes this module knows. */
export type PasswordScheme =
  | "pbkdf2-sha512"
  | "sha512-crypt"
  | "sha256-crypt"
  | "mosquitto-sha512"
  | "scram-sha-256";

/** Options for {@link hashPassword}. */
export interface HashOptions {
  /**
   * Default `pbkdf2-sha512`, the `$7$` format `mosquitto_passwd` writes. SCRAM entries are made
   * by `createScramEntry` in `scram.ts`, which is asynchronous.
   */
  scheme?: Exclude<PasswordScheme, "scram-sha-256">;
  /** PBKDF2 iterations for `pbkdf2-sha512`; default 101, as `mosquitto_passwd`. */
  iterations?: number;
  /** SHA-crypt rounds; when absent the hash carries no `rounds=` and uses 5000. */
  rounds?: number;
}

const encoder = new TextEncoder();

function bytes(password: Uint8Array | string): Uint8Array {
  return typeof password === "string" ? encoder.encode(password) : password;
}

/** The SCRAM credential a stored hash holds, or undefined when it is not a valid one. */
function scramCredential(hash: string): ScramCredential | undefined {
  // Most hashes are of another scheme: refusing them here spares an error (and its stack) a check.
  if (!hash.startsWith(SCRAM_ENTRY_PREFIX)) return undefined;
  try {
    return parseScramEntry(hash);
  } catch {
    return undefined;
  }
}

/** The scheme of a stored hash, or undefined when it is none this module can verify. */
export function hashScheme(hash: string): PasswordScheme | undefined {
  if (scramCredential(hash)) return "scram-sha-256";
  const m = parseMosquittoHash(hash);
  if (m) return m.id === "7" ? "pbkdf2-sha512" : "mosquitto-sha512";
  const s = parseShaCrypt(hash);
  if (s && s.digest.length === SHA_CRYPT_DIGEST_LENGTH[s.id]) {
    return s.id === "6" ? "sha512-crypt" : "sha256-crypt";
  }
  return undefined;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  // Lengths are public (fixed by the scheme); only the contents must be compared in constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A stored hash parsed once, which checks passwords against it (see {@link verifyPassword}):
 * the password file's entries are parsed when it is loaded, not at each login.
 */
export type HashVerifier = (password: Uint8Array | string, hasher?: Hasher) => Promise<boolean>;

const NEVER: HashVerifier = () => Promise.resolve(false);

/** The {@link HashVerifier} of `hash`; for an unknown or malformed hash one that never matches. */
export function hashVerifier(hash: string): HashVerifier {
  const credential = scramCredential(hash);
  if (credential) {
    return (password, hasher) => verifyPlainAgainstCredential(password, credential, hasher);
  }
  const m = parseMosquittoHash(hash);
  if (m?.id === "6") {
    return (password) =>
      new Promise((resolve) =>
        resolve(equal(mosquittoDigest(bytes(password), m.id, m.salt, m.iterations), m.hash))
      );
  }
  if (m) {
    return async (password, hasher = IN_THREAD) => {
      const key = bytes(password);
      return equal(
        await hasher.pbkdf2(key, m.salt, m.iterations, MOSQUITTO_HASH_BYTES, "sha512"),
        m.hash,
      );
    };
  }
  const s = parseShaCrypt(hash);
  if (!s || s.digest.length !== SHA_CRYPT_DIGEST_LENGTH[s.id]) return NEVER;
  const stored = encoder.encode(hash);
  // The algorithm, salt and rounds are the hash's: only the key is the login's.
  const { algorithm, salt, rounds, format } = shaCryptInput(new Uint8Array(0), hash);
  return async (password, hasher = IN_THREAD) => {
    const digest = await hasher.shaCrypt(algorithm, bytes(password), salt, rounds);
    return equal(encoder.encode(format(digest)), stored);
  };
}

/**
 * Whether `password` matches the stored `hash`, in constant time; an unknown or malformed hash
 * never matches. The hashing runs on `hasher`: give the broker's pool, so that the event loop
 * only parses and compares.
 */
export async function verifyPassword(
  password: Uint8Array | string,
  hash: string,
  hasher: Hasher = IN_THREAD,
): Promise<boolean> {
  return await hashVerifier(hash)(password, hasher);
}

/**
 * What a hash costs to verify, as a key: hashes with equal shapes (scheme, iterations or rounds,
 * salt length) take the same time. Undefined for a hash of no known scheme.
 */
export function hashShape(hash: string): string | undefined {
  const c = scramCredential(hash);
  if (c) return `scram ${c.iterations} ${c.salt.length}`;
  const m = parseMosquittoHash(hash);
  if (m) return `$${m.id}$ ${m.iterations} ${m.salt.length}`;
  const s = parseShaCrypt(hash);
  if (!s || s.digest.length !== SHA_CRYPT_DIGEST_LENGTH[s.id]) return undefined;
  return `$${s.id}$ ${s.rounds ?? SHA_CRYPT_DEFAULT_ROUNDS} ${s.salt.length}`;
}

/**
 * A hash of the same shape as `hash` (see {@link hashShape}) that no password matches, made
 * without hashing: its salt and digest are random. Checking a password against it costs what
 * checking against `hash` costs, so an unknown user can be checked as if it were known.
 */
export function decoyHash(hash: string): string {
  const c = scramCredential(hash);
  if (c) {
    const random = (length: number) => new Uint8Array(randomBytes(length));
    return formatScramEntry({
      iterations: c.iterations,
      salt: random(c.salt.length),
      storedKey: random(c.storedKey.length),
      serverKey: random(c.serverKey.length),
    });
  }
  const m = parseMosquittoHash(hash);
  if (m) {
    const salt = new Uint8Array(randomBytes(m.salt.length));
    const digest = new Uint8Array(randomBytes(m.hash.length));
    return formatMosquittoHash({ ...m, salt, hash: digest });
  }
  const s = parseShaCrypt(hash);
  if (!s || s.digest.length !== SHA_CRYPT_DIGEST_LENGTH[s.id]) {
    throw new Error("not a hash of a known scheme");
  }
  const rounds = s.rounds === undefined ? "" : `rounds=${s.rounds}$`;
  const digest = cryptChars(SHA_CRYPT_DIGEST_LENGTH[s.id]);
  return `$${s.id}$${rounds}${cryptChars(s.salt.length)}$${digest}`;
}

function cryptChars(length: number): string {
  const raw = randomBytes(length);
  let out = "";
  for (const b of raw) out += CRYPT_ALPHABET[b & 0x3f];
  return out;
}

/** A new hash of `password` with a fresh random salt. */
export function hashPassword(password: Uint8Array | string, options: HashOptions = {}): string {
  const key = bytes(password);
  const scheme = options.scheme ?? "pbkdf2-sha512";
  switch (scheme) {
    case "pbkdf2-sha512":
    case "mosquitto-sha512": {
      const id = scheme === "pbkdf2-sha512" ? "7" : "6";
      const iterations = id === "7" ? options.iterations ?? MOSQUITTO_DEFAULT_ITERATIONS : 1;
      if (!Number.isInteger(iterations) || iterations < 1) {
        throw new RangeError(`iterations must be a positive integer, not ${iterations}`);
      }
      const salt = new Uint8Array(randomBytes(MOSQUITTO_SALT_BYTES));
      const hash = mosquittoDigest(key, id, salt, iterations);
      return formatMosquittoHash({ id, iterations, salt, hash });
    }
    case "sha512-crypt":
    case "sha256-crypt": {
      const id = scheme === "sha512-crypt" ? "6" : "5";
      const rounds = options.rounds === undefined ? "" : `rounds=${options.rounds}$`;
      return shaCrypt(key, `$${id}$${rounds}${cryptChars(16)}`);
    }
  }
}
