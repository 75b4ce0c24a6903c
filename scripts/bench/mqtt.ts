/**
 * The few MQTT 3.1.1 packets the load generator sends, encoded by hand once at start, and a scanner
 * that walks incoming bytes by fixed header only, so that counting costs a few byte reads per packet.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** MQTT control packet types, as the high nibble of the first byte. */
export const CONNACK = 2;
/** PUBLISH packet type. */
export const PUBLISH = 3;
/** PUBACK packet type. */
export const PUBACK = 4;
/** SUBACK packet type. */
export const SUBACK = 9;

/** A clean DISCONNECT. */
export const DISCONNECT: Buffer = Buffer.from([0xe0, 0]);

function varint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 128;
    out.push(byte);
  } while (rest > 0 && out.length < 4);
  return out;
}

function frame(first: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([first, ...varint(body.length)]), body]);
}

function utf8(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function u16(n: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(n, 0);
  return out;
}

/** CONNECT with clean session, no will, no credentials. */
export function encodeConnect(clientId: string, keepaliveSeconds: number): Buffer {
  return frame(0x10, utf8("MQTT"), Buffer.from([4, 0x02]), u16(keepaliveSeconds), utf8(clientId));
}

/** SUBSCRIBE to one filter. */
export function encodeSubscribe(packetId: number, filter: string, qos: 0 | 1): Buffer {
  return frame(0x82, u16(packetId), utf8(filter), Buffer.from([qos]));
}

/** PUBLISH; `packetId` is only written for QoS 1. */
export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1, packetId = 0): Buffer {
  const parts = qos === 0 ? [utf8(topic), payload] : [utf8(topic), u16(packetId), payload];
  return frame(0x30 | (qos << 1), ...parts);
}

/** PUBACK for `packetId`, written into `out` at `offset` (4 bytes) to batch acks without allocating. */
export function writePuback(out: Buffer, offset: number, packetId: number): void {
  out[offset] = 0x40;
  out[offset + 1] = 2;
  out[offset + 2] = packetId >> 8;
  out[offset + 3] = packetId & 0xff;
}

/** Called with each complete packet: its type, flags, and where its body lies in `buf`. */
export type PacketHandler = (
  type: number,
  flags: number,
  buf: Buffer,
  bodyStart: number,
  bodyEnd: number,
) => void;

/**
 * Counts incoming packets by type from their fixed headers. Without a handler a packet is counted as
 * soon as its header is read and its body is skipped, even across chunks; with one, small packets are
 * held until complete so that the handler sees the whole body.
 */
export class PacketScanner {
  /** Packets seen, indexed by packet type. */
  readonly counts: Float64Array = new Float64Array(16);
  #skip = 0;
  #carry: Buffer | null = null;
  readonly #handler: PacketHandler | null;

  constructor(handler: PacketHandler | null = null) {
    this.#handler = handler;
  }

  /** Scans one chunk from the socket; throws on a malformed remaining length. */
  feed(chunk: Buffer): void {
    let buf = chunk;
    let i = 0;
    if (this.#skip > 0) {
      if (this.#skip >= buf.length) {
        this.#skip -= buf.length;
        return;
      }
      i = this.#skip;
      this.#skip = 0;
    }
    if (this.#carry !== null) {
      buf = Buffer.concat([this.#carry, i === 0 ? buf : buf.subarray(i)]);
      i = 0;
      this.#carry = null;
    }
    const end = buf.length;
    const counts = this.counts;
    const handler = this.#handler;
    while (i < end) {
      const first = buf[i];
      let length = 0;
      let multiplier = 1;
      let p = i + 1;
      let complete = false;
      for (let k = 0; k < 4 && p < end; k++) {
        const byte = buf[p++];
        length += (byte & 127) * multiplier;
        multiplier *= 128;
        if ((byte & 128) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (p - i > 4) throw new Error("malformed remaining length");
        this.#carry = buf.subarray(i);
        return;
      }
      const bodyEnd = p + length;
      if (bodyEnd > end) {
        // Holding is bounded: only our own small packets are wanted whole.
        if (handler !== null && length <= 4096) {
          this.#carry = buf.subarray(i);
          return;
        }
        counts[first >> 4]++;
        this.#skip = bodyEnd - end;
        return;
      }
      counts[first >> 4]++;
      if (handler !== null) handler(first >> 4, first & 15, buf, p, bodyEnd);
      i = bodyEnd;
    }
  }
}
