/**
 * Mosquitto's own password hashes: `$7$iterations$salt$hash` (PBKDF2-HMAC-SHA512, what
 * `mosquitto_passwd` writes since 2.0) and `$6$salt$hash` (one SHA-512 of password then salt,
 * what Mosquitto 1.x wrote). Salt and hash are standard base-64 of the raw bytes.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, pbkdf2Sync } from "node:crypto";

/** Iterations `mosquitto_passwd` uses for `$7$`. */
export const MOSQUITTO_DEFAULT_ITERATIONS = 101;
/** Salt bytes `mosquitto_passwd` generates. */
export const MOSQUITTO_SALT_BYTES = 12;
/** Bytes of the digest of both schemes. */
export const MOSQUITTO_HASH_BYTES = 64;

/** A parsed Mosquitto hash. */
export interface MosquittoHash {
  /** `"7"` for PBKDF2-SHA512, `"6"` for the 1.x salted SHA-512. */
  id: "6" | "7";
  /** PBKDF2 iterations; 1 for `$6$`. */
  iterations: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decode(text: string): Uint8Array | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "base64"));
}

/**
 * The most `$7$` iterations accepted (as for SCRAM entries): a check cannot be interrupted once
 * its worker runs it, so an entry costing more than its 10 s timeout would keep a core busy.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

/**
 * Parses a `$7$` or Mosquitto-style `$6$` hash, or returns undefined (also above
 * {@link MAX_PBKDF2_ITERATIONS}). A `$6$` whose hash part is not
 * the base-64 of 64 bytes is not Mosquitto's (it may be SHA-crypt, which shares the prefix).
 */
export function parseMosquittoHash(text: string): MosquittoHash | undefined {
  const parts = text.split("$");
  if (parts[0] !== "") return undefined;
  let iterations = 1;
  let rest: string[];
  if (parts[1] === "7" && parts.length === 5) {
    if (!/^[1-9][0-9]{0,9}$/.test(parts[2])) return undefined;
    iterations = Number(parts[2]);
    if (iterations > MAX_PBKDF2_ITERATIONS) return undefined;
    rest = parts.slice(3);
  } else if (parts[1] === "6" && parts.length === 4) {
    rest = parts.slice(2);
  } else {
    return undefined;
  }
  const salt = decode(rest[0]);
  const hash = decode(rest[1]);
  if (!salt || !hash || hash.length !== MOSQUITTO_HASH_BYTES) return undefined;
  return { id: parts[1], iterations, salt, hash };
}

/** The raw digest a Mosquitto hash stores for `password` with the given parameters. */
export function mosquittoDigest(
  password: Uint8Array,
  id: "6" | "7",
  salt: Uint8Array,
  iterations: number,
): Uint8Array {
  if (id === "6") {
    return new Uint8Array(createHash("sha512").update(password).update(salt).digest());
  }
  return new Uint8Array(pbkdf2Sync(password, salt, iterations, MOSQUITTO_HASH_BYTES, "sha512"));
}

/** Formats a Mosquitto hash string. */
export function formatMosquittoHash(h: MosquittoHash): string {
  const salt = Buffer.from(h.salt).toString("base64");
  const hash = Buffer.from(h.hash).toString("base64");
  return h.id === "7" ? `$7$${h.iterations}$${salt}$${hash}` : `$6$${salt}$${hash}`;
}
