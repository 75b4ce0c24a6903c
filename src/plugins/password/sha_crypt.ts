/**
 * SHA-crypt (`$5$` SHA-256, `$6$` SHA-512): Ulrich Drepper's algorithm as glibc's `crypt(3)` and
 * `openssl passwd -5/-6` implement it, including the `rounds=N$` setting.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The two SHA-crypt variants, by their `$id$`. */
export type ShaCryptId = "5" | "6";

/** Rounds used when the setting names none; such hashes do not carry `rounds=`. */
export const SHA_CRYPT_DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;
const MAX_SALT = 16;

/** The alphabet of crypt's base-64, which differs from RFC 4648 in order and symbols. */
export const CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A parsed SHA-crypt string. */
export interface ShaCryptParts {
  id: ShaCryptId;
  /** Rounds as written, clamped; undefined when the string has no `rounds=`. */
  rounds?: number;
  salt: string;
  /** The encoded digest; empty when parsing a bare setting. */
  digest: string;
}

const SHAPE = /^\$([56])\$(?:rounds=([0-9]{1,12})\$)?([^$:\s]*)(?:\$([./0-9A-Za-z]*))?$/;

/**
 * Splits a `$5$`/`$6$` hash or setting into its parts, or returns undefined when it is not one.
 * Salt longer than 16 characters is cut and rounds are clamped to 1000..999999999, as glibc does.
 */
export function parseShaCrypt(text: string): ShaCryptParts | undefined {
  const m = SHAPE.exec(text);
  if (!m) return undefined;
  const id = m[1] as ShaCryptId;
  const salt = m[3].slice(0, MAX_SALT);
  const digest = m[4] ?? "";
  if (m[2] === undefined) return { id, salt, digest };
  const rounds = Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, Number(m[2])));
  return { id, rounds, salt, digest };
}

/** Expected length of the encoded digest for each variant. */
export const SHA_CRYPT_DIGEST_LENGTH: Record<ShaCryptId, number> = { "5": 43, "6": 86 };

/** What SHA-crypt hashes for a password and setting: the inputs of {@link shaCryptDigest}. */
export interface ShaCryptInput {
  algorithm: "sha256" | "sha512";
  key: Uint8Array;
  salt: Uint8Array;
  rounds: number;
  /** The full SHA-crypt string for the digest that {@link shaCryptDigest} computed. */
  format(digest: Uint8Array): string;
}

/**
 * The inputs for `password` with the id, rounds and salt of `setting` (any `$5$`/`$6$` hash or
 * setting; the digest part of it is ignored). Throws when `setting` is not one.
 */
export function shaCryptInput(password: Uint8Array | string, setting: string): ShaCryptInput {
  const parts = parseShaCrypt(setting);
  if (!parts) throw new Error("not a $5$ or $6$ setting");
  const setRounds = parts.rounds === undefined ? "" : `rounds=${parts.rounds}$`;
  return {
    algorithm: parts.id === "5" ? "sha256" : "sha512",
    key: typeof password === "string" ? new TextEncoder().encode(password) : password,
    salt: new TextEncoder().encode(parts.salt),
    rounds: parts.rounds ?? SHA_CRYPT_DEFAULT_ROUNDS,
    format: (digest) =>
      `$${parts.id}$${setRounds}${parts.salt}$${
        parts.id === "5" ? encode256(digest) : encode512(digest)
      }`,
  };
}

/**
 * Computes the full SHA-crypt string for `password` with the id, rounds and salt of `setting`,
 * on this thread (some milliseconds at the default 5000 rounds).
 */
export function shaCrypt(password: Uint8Array | string, setting: string): string {
  const input = shaCryptInput(password, setting);
  const { algorithm, key, salt, rounds } = input;
  return input.format(shaCryptDigest(createHash, algorithm, key, salt, rounds));
}

/** The hash constructor {@link shaCryptDigest} is given: `node:crypto`'s `createHash`. */
export type CreateHash = (algorithm: string) => {
  update(data: Uint8Array): ReturnType<CreateHash>;
  digest(): Uint8Array;
};

/**
 * The SHA-crypt digest. The hashing worker runs its source text (see `pool.ts`), so it refers to
 * nothing outside itself (the hash constructor comes in as an argument) and holds no inner
 * function, to which a transpiler might add a helper call (esbuild's `__name`).
 */
export function shaCryptDigest(
  createHash: CreateHash,
  algorithm: "sha256" | "sha512",
  key: Uint8Array,
  salt: Uint8Array,
  rounds: number,
): Uint8Array {
  const b = createHash(algorithm).update(key).update(salt).update(key).digest();

  const a = createHash(algorithm).update(key).update(salt);
  // Each of these is a digest repeated to a given length.
  const bRepeated = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) bRepeated[i] = b[i % b.length];
  a.update(bRepeated);
  for (let n = key.length; n > 0; n >>>= 1) a.update(n & 1 ? b : key);
  let c: Uint8Array = a.digest();

  const dp = createHash(algorithm);
  for (let i = 0; i < key.length; i++) dp.update(key);
  const dpDigest = dp.digest();
  const p = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) p[i] = dpDigest[i % dpDigest.length];

  const ds = createHash(algorithm);
  for (let i = 0; i < 16 + c[0]; i++) ds.update(salt);
  const dsDigest = ds.digest();
  const s = new Uint8Array(salt.length);
  for (let i = 0; i < salt.length; i++) s[i] = dsDigest[i % dsDigest.length];

  for (let i = 0; i < rounds; i++) {
    const r = createHash(algorithm);
    r.update(i & 1 ? p : c);
    if (i % 3) r.update(s);
    if (i % 7) r.update(p);
    r.update(i & 1 ? c : p);
    c = r.digest();
  }
  return c;
}

/** Appends `count` characters for the 24-bit group `hi:mid:lo`, least significant first. */
function group(out: string[], hi: number, mid: number, lo: number, count: number): void {
  let w = (hi << 16) | (mid << 8) | lo;
  for (let i = 0; i < count; i++) {
    out.push(CRYPT_ALPHABET[w & 0x3f]);
    w >>>= 6;
  }
}

/** The byte order is part of the format: each group takes bytes a third of the digest apart. */
function encode256(d: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < 10; i++) {
    const x = d[i], y = d[i + 10], z = d[i + 20];
    if (i % 3 === 0) group(out, x, y, z, 4);
    else if (i % 3 === 1) group(out, z, x, y, 4);
    else group(out, y, z, x, 4);
  }
  group(out, 0, d[31], d[30], 3);
  return out.join("");
}

function encode512(d: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < 21; i++) {
    const x = d[i], y = d[i + 21], z = d[i + 42];
    if (i % 3 === 0) group(out, x, y, z, 4);
    else if (i % 3 === 1) group(out, y, z, x, 4);
    else group(out, z, x, y, 4);
  }
  group(out, 0, 0, d[63], 2);
  return out.join("");
}
