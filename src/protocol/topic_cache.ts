/**
 * Topic names of PUBLISH packets, decoded once per distinct byte string: publishers repeat their
 * few topics, and a `TextDecoder` call costs far more than comparing a few bytes (five to ten
 * times more on Deno, where each call is a native op). Decoding is pure, so an entry can never
 * go stale; the table is small and fixed, and a colliding topic simply takes the slot.
 *
 * @module
 */

/** Slots of the table, a power of two. */
const SLOTS = 256;
/** Longer names are decoded every time: few topics are longer, and comparing costs more. */
const MAX_CACHED_BYTES = 64;

const keys: (Uint8Array | undefined)[] = new Array(SLOTS).fill(undefined);
const values: string[] = new Array(SLOTS).fill("");

/** The text of `raw`, from the table or else by `decode` (which may throw: nothing is kept then). */
export function cachedTopic(
  raw: Uint8Array,
  decode: (raw: Uint8Array) => string,
): string {
  const n = raw.length;
  if (n > MAX_CACHED_BYTES) return decode(raw);
  let hash = n;
  for (let i = 0; i < n; i++) hash = (hash * 31 + raw[i]) | 0;
  const slot = hash & (SLOTS - 1);
  const key = keys[slot];
  if (key !== undefined && key.length === n) {
    let i = 0;
    while (i < n && key[i] === raw[i]) i++;
    if (i === n) return values[slot];
  }
  const text = decode(raw);
  keys[slot] = raw.slice();
  values[slot] = text;
  return text;
}
