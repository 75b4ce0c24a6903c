/**
 * Byte helpers shared by the framer, the encoders and the connection writer.
 *
 * @module
 */

/** Joins `parts` (whose lengths add up to `length`) into one new array. */
export function concatBytes(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** How many bytes the variable byte integer `value` takes (1 to 4). */
export function varintLength(value: number): number {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

/** Writes `value` as a variable byte integer at `at`; returns the offset after it. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out[at++] = byte;
  } while (value > 0);
  return at;
}
