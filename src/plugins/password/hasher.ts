/**
 * The costly part of checking a password, behind one interface: PBKDF2 (`$7$`, SCRAM) and the
 * SHA-crypt rounds. {@link IN_THREAD} runs them here; `HashPool` (`pool.ts`) in worker threads.
 *
 * @module
 */
import { createHash, pbkdf2 } from "node:crypto";
import { shaCryptDigest } from "./sha_crypt.ts";

/** Runs the hash functions a password check needs; every method rejects on bad input. */
export interface Hasher {
  /** PBKDF2-HMAC with `digest`, `length` bytes out. */
  pbkdf2(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    length: number,
    digest: "sha256" | "sha512",
  ): Promise<Uint8Array>;
  /** The SHA-crypt digest (see `shaCryptDigest` in `sha_crypt.ts`). */
  shaCrypt(
    algorithm: "sha256" | "sha512",
    key: Uint8Array,
    salt: Uint8Array,
    rounds: number,
  ): Promise<Uint8Array>;
}

/**
 * On this thread: PBKDF2 in the runtime's own thread pool, SHA-crypt rounds on the event loop
 * (some milliseconds at 5000 rounds). For `broker passwd` and tests; the broker uses a pool.
 */
export const IN_THREAD: Hasher = {
  pbkdf2(password, salt, iterations, length, digest) {
    return new Promise((resolve, reject) => {
      pbkdf2(password, salt, iterations, length, digest, (error, key) => {
        if (error) reject(error);
        else resolve(new Uint8Array(key));
      });
    });
  },
  shaCrypt(algorithm, key, salt, rounds) {
    return Promise.resolve().then(() =>
      new Uint8Array(shaCryptDigest(createHash, algorithm, key, salt, rounds))
    );
  },
};
