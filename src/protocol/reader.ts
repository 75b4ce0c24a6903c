/**
 * Bounds-checked reading of the fields of one packet body, shared by the 3.1.1 and 5.0
 * decoders. Binary fields are views into the packet, never copies.
 *
 * @module
 */
import { ProtocolError, protocolError } from "./packets.ts";
import { MAX_TOPIC_LEVELS, tooManyLevels } from "./topic.ts";
import { cachedTopic } from "./topic_cache.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads the length-prefixed strings and fields of one packet body, bounds-checked. */
export class Reader {
  pos: number;
  constructor(readonly bytes: Uint8Array, start: number) {
    this.pos = start;
  }
  get left(): number {
    return this.bytes.length - this.pos;
  }
  byte(what: string): number {
    if (this.left < 1) throw new ProtocolError(`packet too short for ${what}`);
    return this.bytes[this.pos++];
  }
  uint16(what: string): number {
    if (this.left < 2) throw new ProtocolError(`packet too short for ${what}`);
    const value = (this.bytes[this.pos] << 8) | this.bytes[this.pos + 1];
    this.pos += 2;
    return value;
  }
  uint32(what: string): number {
    if (this.left < 4) throw new ProtocolError(`packet too short for ${what}`);
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    // Multiplying keeps the top bit from turning the value negative, as `<< 24` would.
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }
  /** A variable byte integer: at most four bytes, and no more bytes than the value needs. */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.byte(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new ProtocolError(`${what} is not minimally encoded`);
        return value;
      }
      multiplier *= 128;
    }
    throw new ProtocolError(`${what} is longer than four bytes`);
  }
  binary(what: string): Uint8Array {
    const length = this.uint16(what);
    if (this.left < length) throw new ProtocolError(`packet too short for ${what}`);
    const value = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }
  /** A topic name or filter: a string of at most {@link MAX_TOPIC_LEVELS} levels. */
  topic(what: string): string {
    const text = this.string(what);
    if (tooManyLevels(text)) {
      throw new ProtocolError(`${what} has more than ${MAX_TOPIC_LEVELS} levels`);
    }
    return text;
  }
  string(what: string): string {
    return checkedText(this.binary(what), what);
  }
  /** A PUBLISH topic name, as {@link string} reads it, through the table of `topic_cache.ts`. */
  topicName(): string {
    return cachedTopic(this.binary("topic name"), (raw) => checkedText(raw, "topic name"));
  }
  packetId(): number {
    const id = this.uint16("packet identifier");
    if (id === 0) throw protocolError("packet identifier 0");
    return id;
  }
}

/** `raw` as UTF-8 text; a {@link ProtocolError} naming `what` if it is not valid or holds U+0000. */
function checkedText(raw: Uint8Array, what: string): string {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
  if (text.includes("\u0000")) throw new ProtocolError(`${what} contains U+0000`);
  return text;
}

/** Offset of the variable header: after the type byte and the remaining-length bytes. */
export function bodyStart(frame: Uint8Array): number {
  let i = 1;
  while (frame[i] & 0x80) i++;
  return i + 1;
}

/** Throws unless the low nibble of the first byte (the fixed header flags) is `flags`. */
export function expectFlags(frame: Uint8Array, flags: number, name: string): void {
  if ((frame[0] & 0x0f) !== flags) throw new ProtocolError(`reserved flags of ${name} are wrong`);
}

/** Whether `topic` contains `+` or `#`. */
export function hasWildcard(topic: string): boolean {
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) return true;
  }
  return false;
}
