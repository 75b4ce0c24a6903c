/**
 * Byte helpers shared by the framer and the connection writer.
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
