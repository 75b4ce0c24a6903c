/**
 * The few MQTT 3.1.1 and 5.0 packets the load generator sends, encoded by hand once at start; a
 * scanner that walks incoming bytes by fixed header only, so that counting costs a few byte reads
 * per packet; and readers for the rare packets whose contents matter (CONNACK, SUBACK, DISCONNECT).
 * Kept apart from the broker's own codec so that a bug there cannot hide itself here.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The protocol level a client speaks: 4 is MQTT 3.1.1, 5 is MQTT 5.0. */
export type Version = 4 | 5;

/** MQTT control packet types, as the high nibble of the first byte. */
export const CONNACK = 2;
/** PUBLISH packet type. */
export const PUBLISH = 3;
/** PUBACK packet type. */
export const PUBACK = 4;
/** SUBACK packet type. */
export const SUBACK = 9;
/** DISCONNECT packet type (sent by a 5.0 server with a reason code). */
export const DISCONNECT_TYPE = 14;

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

/** An empty 5.0 property block. */
const NO_PROPERTIES = Buffer.from([0]);

/** A 5.0 property block holding only Session Expiry Interval 0xFFFFFFFF: the session never expires. */
const NEVER_EXPIRES = Buffer.from([5, 0x11, 0xff, 0xff, 0xff, 0xff]);

/** A user name and password a client logs in with. */
export interface Credentials {
  username: string;
  password: string;
}

/** How a client connects beyond its id, keepalive and version. */
export interface ConnectOptions {
  /**
   * A session that outlives the connection: clean session 0 in 3.1.1, clean start 0 with a
   * Session Expiry Interval that never ends in 5.0. Otherwise clean session (clean start).
   */
  persistent?: boolean;
  /** A user name and password to log in with. */
  credentials?: Credentials;
}

/** CONNECT with no will and, in 5.0, no properties but a session expiry when persistent. */
export function encodeConnect(
  clientId: string,
  keepaliveSeconds: number,
  version: Version,
  { persistent = false, credentials }: ConnectOptions = {},
): Buffer {
  const flags = (persistent ? 0x00 : 0x02) | (credentials === undefined ? 0 : 0xc0);
  const fixed = [utf8("MQTT"), Buffer.from([version, flags]), u16(keepaliveSeconds)];
  const login = credentials === undefined
    ? []
    : [utf8(credentials.username), utf8(credentials.password)];
  return version === 5
    ? frame(0x10, ...fixed, persistent ? NEVER_EXPIRES : NO_PROPERTIES, utf8(clientId), ...login)
    : frame(0x10, ...fixed, utf8(clientId), ...login);
}

/** SUBSCRIBE to one filter; in 5.0 with no properties and options that hold the QoS only. */
export function encodeSubscribe(
  packetId: number,
  filter: string,
  qos: 0 | 1,
  version: Version,
): Buffer {
  const id = version === 5 ? [u16(packetId), NO_PROPERTIES] : [u16(packetId)];
  return frame(0x82, ...id, utf8(filter), Buffer.from([qos]));
}

/** A 5.0 user property (name, value). */
export type UserProperty = readonly [string, string];

/**
 * PUBLISH; `packetId` is only written for QoS 1. In 5.0 the property block is empty, or holds one
 * user property, which the broker must parse and forward to every subscriber.
 */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: 0 | 1,
  packetId: number,
  version: Version,
  userProperty: UserProperty | null = null,
): Buffer {
  const parts = [utf8(topic)];
  if (qos > 0) parts.push(u16(packetId));
  if (version === 5) {
    if (userProperty === null) parts.push(NO_PROPERTIES);
    else {
      const property = Buffer.concat([
        Buffer.from([0x26]),
        utf8(userProperty[0]),
        utf8(userProperty[1]),
      ]);
      parts.push(Buffer.from(varint(property.length)), property);
    }
  }
  return frame(0x30 | (qos << 1), ...parts, payload);
}

/**
 * PUBACK for `packetId`, written into `out` at `offset` (4 bytes) to batch acks without allocating.
 * The same bytes serve 5.0: a remaining length of 2 means reason code 0, success, no properties.
 */
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
 * Counts incoming packets by type from their fixed headers. A packet whose type is not in `types`
 * (a bit mask, `1 << type`) is counted as soon as its header is read and its body is skipped, even
 * across chunks; one whose type is, is held until complete (when small) so that the handler sees
 * the whole body.
 */
export class PacketScanner {
  /** Packets seen, indexed by packet type. */
  readonly counts: Float64Array = new Float64Array(16);
  #skip = 0;
  #carry: Buffer | null = null;
  readonly #handler: PacketHandler;
  readonly #types: number;

  constructor(handler: PacketHandler, types: number) {
    this.#handler = handler;
    this.#types = types;
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
    const types = this.#types;
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
      const type = first >> 4;
      const wanted = (types & (1 << type)) !== 0;
      const bodyEnd = p + length;
      if (bodyEnd > end) {
        // Holding is bounded: only our own small packets are wanted whole.
        if (wanted && length <= 4096) {
          this.#carry = buf.subarray(i);
          return;
        }
        counts[type]++;
        this.#skip = bodyEnd - end;
        return;
      }
      counts[type]++;
      if (wanted) handler(type, first & 15, buf, p, bodyEnd);
      i = bodyEnd;
    }
  }
}

/** Where the payload of the PUBLISH whose body starts at `start` begins. */
export function payloadStart(buf: Buffer, start: number, flags: number, version: Version): number {
  let at = start + 2 + ((buf[start] << 8) | buf[start + 1]) + ((flags & 6) === 0 ? 0 : 2);
  if (version === 5) {
    let length = 0;
    let multiplier = 1;
    let byte = 128;
    for (let k = 0; k < 4 && (byte & 128) !== 0; k++) {
      byte = buf[at++];
      length += (byte & 127) * multiplier;
      multiplier *= 128;
    }
    at += length;
  }
  return at;
}

/** 5.0 property identifiers the load generator acts on. */
export const Property = {
  REASON_STRING: 0x1f,
  RECEIVE_MAXIMUM: 0x21,
  MAXIMUM_QOS: 0x24,
  WILDCARD_SUBSCRIPTION_AVAILABLE: 0x28,
  SHARED_SUBSCRIPTION_AVAILABLE: 0x2a,
} as const;

/** The wire type of every 5.0 property (section 2.2.2.2), to step over those nobody reads. */
const PROPERTY_KINDS = new Map<number, "byte" | "u16" | "u32" | "varint" | "bytes" | "pair">([
  ...[0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a].map((id) => [id, "byte"] as const),
  ...[0x13, 0x21, 0x22, 0x23].map((id) => [id, "u16"] as const),
  ...[0x02, 0x11, 0x18, 0x27].map((id) => [id, "u32"] as const),
  [0x0b, "varint"],
  ...[0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f].map((id) => [id, "bytes"] as const),
  [0x26, "pair"],
]);

/** Properties by identifier: numbers as numbers, strings and binary data as text. */
export type PropertyValues = Map<number, number | string>;

function varintAt(buf: Buffer, at: number, end: number): { value: number; next: number } {
  let value = 0;
  let multiplier = 1;
  for (let k = 0; k < 4; k++) {
    if (at >= end) break;
    const byte = buf[at++];
    value += (byte & 127) * multiplier;
    multiplier *= 128;
    if ((byte & 128) === 0) return { value, next: at };
  }
  throw new Error("malformed variable byte integer");
}

/** Reads the property block at `at` (its length first); returns the values and the offset after it. */
export function readProperties(
  buf: Buffer,
  at: number,
  end: number,
): { values: PropertyValues; next: number } {
  const { value: length, next: start } = varintAt(buf, at, end);
  const stop = start + length;
  if (stop > end) throw new Error("property block longer than its packet");
  const values: PropertyValues = new Map();
  let p = start;
  const text = (): string => {
    const n = buf.readUInt16BE(p);
    const s = buf.toString("utf8", p + 2, p + 2 + n);
    p += 2 + n;
    return s;
  };
  while (p < stop) {
    const id = buf[p++];
    switch (PROPERTY_KINDS.get(id)) {
      case "byte":
        values.set(id, buf[p++]);
        break;
      case "u16":
        values.set(id, buf.readUInt16BE(p));
        p += 2;
        break;
      case "u32":
        values.set(id, buf.readUInt32BE(p));
        p += 4;
        break;
      case "varint": {
        const v = varintAt(buf, p, stop);
        values.set(id, v.value);
        p = v.next;
        break;
      }
      case "bytes":
        values.set(id, text());
        break;
      case "pair":
        values.set(id, `${text()}=${text()}`);
        break;
      default:
        throw new Error(`unknown property 0x${id.toString(16)}`);
    }
  }
  if (p !== stop) throw new Error("property overruns its block");
  return { values, next: stop };
}

/** What a CONNACK says: the return code (3.1.1) or reason code (5.0), and its 5.0 properties. */
export interface Connack {
  code: number;
  /** The two-byte 3.1.1 form, whose code is a 3.1.1 return code. */
  v4Form: boolean;
  properties: PropertyValues;
}

/**
 * Reads a CONNACK body. A 5.0 client may get the two-byte 3.1.1 form from a broker that does not
 * speak 5.0 (refusing it with return code 1): that is read as what it is, with no properties.
 */
export function readConnack(buf: Buffer, start: number, end: number, version: Version): Connack {
  if (end - start < 2) throw new Error("CONNACK shorter than 2 bytes");
  const code = buf[start + 1];
  if (version === 4 || end - start === 2) return { code, v4Form: true, properties: new Map() };
  return { code, v4Form: false, properties: readProperties(buf, start + 2, end).values };
}

/** Reads a SUBACK body: one code per filter (granted QoS, or 0x80 and above for a refusal). */
export function readSuback(buf: Buffer, start: number, end: number, version: Version): number[] {
  const at = version === 5 ? readProperties(buf, start + 2, end).next : start + 2;
  return [...buf.subarray(at, end)];
}

/** Reads a 5.0 DISCONNECT body: its reason code and reason string, if any. */
export function readDisconnect(
  buf: Buffer,
  start: number,
  end: number,
): { code: number; reason: string | null } {
  if (end === start) return { code: 0, reason: null };
  const code = buf[start];
  if (end - start === 1) return { code, reason: null };
  const reason = readProperties(buf, start + 1, end).values.get(Property.REASON_STRING);
  return { code, reason: typeof reason === "string" ? reason : null };
}
