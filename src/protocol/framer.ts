/**
 * Cuts a byte stream into whole MQTT packets. It reads the fixed header itself so that a packet
 * larger than the limit is refused from its header alone, before its bytes are buffered.
 *
 * @module
 */
import { concatBytes } from "./bytes.ts";
import { ProtocolError } from "./packets.ts";
import { ReasonCode } from "./reason.ts";

const EMPTY = new Uint8Array(0);
/** Never added to: `next` sets a fresh list before `push` adds parts. */
const NO_PARTS: Uint8Array[] = [];

/** Accumulates chunks and yields complete packets (fixed header included). */
export class PacketFramer {
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  /** Chunks of a packet still incomplete, joined once it is whole rather than at every chunk. */
  #parts: Uint8Array[] = NO_PARTS;
  #partsLength = 0;
  #need = 0;

  /** @param maxPacketSize largest whole packet accepted, in bytes */
  constructor(readonly maxPacketSize: number) {}

  /** Bytes held: pushed and not yet returned by {@link PacketFramer.next}. */
  get buffered(): number {
    return this.#need > 0 ? this.#partsLength : this.#buf.length - this.#pos;
  }

  /** Adds bytes read from the connection. */
  push(chunk: Uint8Array): void {
    if (this.#need > 0) {
      this.#parts.push(chunk);
      this.#partsLength += chunk.length;
      if (this.#partsLength < this.#need) return;
      this.#buf = concatBytes(this.#parts, this.#partsLength);
      this.#parts = NO_PARTS;
      this.#partsLength = 0;
      this.#need = 0;
    } else if (this.#pos < this.#buf.length) {
      const rest = this.#buf.subarray(this.#pos);
      this.#buf = concatBytes([rest, chunk], rest.length + chunk.length);
    } else {
      this.#buf = chunk;
    }
    this.#pos = 0;
  }

  /** The next whole packet, or undefined until more bytes arrive. Throws {@link ProtocolError}. */
  next(): Uint8Array | undefined {
    const buf = this.#buf;
    const start = this.#pos;
    const available = buf.length - start;
    if (available < 2) return undefined;
    let remaining = 0;
    let multiplier = 1;
    let i = start + 1;
    for (;;) {
      if (i >= buf.length) return undefined;
      const byte = buf[i++];
      remaining += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) break;
      multiplier *= 128;
      if (i - start > 4) throw new ProtocolError("malformed remaining length");
    }
    const total = i - start + remaining;
    if (total > this.maxPacketSize) {
      throw new ProtocolError(
        `packet of ${total} bytes exceeds max-packet-size ${this.maxPacketSize}`,
        ReasonCode.PACKET_TOO_LARGE,
      );
    }
    if (available < total) {
      this.#parts = [buf.subarray(start)];
      this.#partsLength = available;
      this.#need = total;
      this.#buf = EMPTY;
      this.#pos = 0;
      return undefined;
    }
    this.#pos = start + total;
    const frame = buf.subarray(start, start + total);
    // The chunk is not kept once read through: a quiet connection holds no bytes here.
    if (this.#pos === buf.length) {
      this.#buf = EMPTY;
      this.#pos = 0;
    }
    return frame;
  }
}
