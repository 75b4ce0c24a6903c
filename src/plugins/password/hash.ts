/**
 * Password hashes: verification of every scheme the password file may hold, and creation of new ones.
 *
 * Schemes: `$7$` (Mosquitto 2, PBKDF2-SHA512), `$6$` and `$5$` SHA-crypt (glibc, `openssl passwd`),
 * and Mosquitto 1.x's `$6$base64salt$base64hash`, told apart from SHA-crypt by its base-64 shape.
 *
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import {
  formatMosquittoHash,
  MOSQUITTO_DEFAULT_ITERATIONS,
  MOSQUITTO_SALT_BYTES,
  mosquittoDigest,
  parseMosquittoHash,
} from "./mosquitto.ts";
import { CRYPT_ALPHABET, parseShaCrypt, SHA_CRYPT_DIGEST_LENGTH, shaCrypt } from "./sha_crypt.ts";

/** The hash schemes this module knows. */
export type PasswordScheme =
  | "pbkdf2-sha512"
  | "sha512-crypt"
  | "sha256-crypt"
  | "mosquitto-sha512";

/** Options for {@link hashPassword}. */
export interface HashOptions {
  /** Default `pbkdf2-sha512`, the `$7$` format `mosquitto_passwd` writes. */
  scheme?: PasswordScheme;
  /** PBKDF2 iterations for `pbkdf2-sha512`; default 101, as `mosquitto_passwd`. */
  iterations?: number;
  /** SHA-crypt rounds; when absent the hash carries no `rounds=` and uses 5000. */
  rounds?: number;
}

const encoder = new TextEncoder();

function bytes(password: Uint8Array | string): Uint8Array {
  return typeof password === "string" ? encoder.encode(password) : password;
}

/** The scheme of a stored hash, or undefined when it is none this module can verify. */
export function hashScheme(hash: string): PasswordScheme | undefined {
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
 * Whether `password` matches the stored `hash`. An unknown or malformed hash never matches.
 * Synchronous so that an auth hook needs no await: `$7$` at 101 iterations costs well under a
 * millisecond, SHA-crypt at its default 5000 rounds some milliseconds.
 */
export function verifyPassword(password: Uint8Array | string, hash: string): boolean {
  const key = bytes(password);
  const m = parseMosquittoHash(hash);
  if (m) return equal(mosquittoDigest(key, m.id, m.salt, m.iterations), m.hash);
  const s = parseShaCrypt(hash);
  if (!s || s.digest.length !== SHA_CRYPT_DIGEST_LENGTH[s.id]) return false;
  return equal(encoder.encode(shaCrypt(key, hash)), encoder.encode(hash));
}

function cryptSalt(): string {
  const raw = randomBytes(16);
  let salt = "";
  for (const b of raw) salt += CRYPT_ALPHABET[b & 0x3f];
  return salt;
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
      return shaCrypt(key, `$${id}$${rounds}${cryptSalt()}`);
    }
  }
}
