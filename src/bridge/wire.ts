/**
 * The packets only a client sends or receives, for the bridge's own connection to its remote:
 * CONNECT, SUBSCRIBE, PINGREQ and DISCONNECT out, CONNACK and SUBACK in. PUBLISH and the
 * acknowledgements have the same layout both ways and come from src/protocol.
 *
 * @module
 */
import { PacketType, ProtocolError, type QoS } from "../protocol/packets.ts";
import { withLength } from "../protocol/encode.ts";
import { varintLength, writeVarint } from "../protocol/bytes.ts";
import { decodeProperties, encodeProperties, type Properties } from "../protocol/properties.ts";
import { bodyStart, Reader } from "../protocol/reader.ts";

const utf8 = new TextEncoder();

/** PINGREQ, always the same two bytes. */
export const PINGREQ: Uint8Array = Uint8Array.of(PacketType.PINGREQ << 4, 0);

/** A normal DISCONNECT (for 5.0: reason 0, no properties, the short form). */
export const DISCONNECT: Uint8Array = Uint8Array.of(PacketType.DISCONNECT << 4, 0);

/** What the bridge's CONNECT says. */
export interface ConnectFields {
  version: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  clean: boolean;
  /** Seconds. */
  keepalive: number;
  /** 5.0 Session Expiry Interval in seconds; undefined sends none (0). */
  sessionExpiry?: number;
  will?: { topic: string; payload: Uint8Array; qos: QoS; retain: boolean };
}

/** Length-prefixed pieces, in order, and their total size. */
class Parts {
  readonly list: Uint8Array[] = [];
  size = 0;
  raw(bytes: Uint8Array): void {
    this.list.push(bytes);
    this.size += bytes.length;
  }
  field(bytes: Uint8Array): void {
    this.raw(Uint8Array.of(bytes.length >> 8, bytes.length & 0xff));
    this.raw(bytes);
  }
}

/** A property block: its length, then the properties. */
function propertyBlock(props: Properties): Uint8Array {
  const body = encodeProperties(props);
  const out = new Uint8Array(varintLength(body.length) + body.length);
  out.set(body, writeVarint(out, 0, body.length));
  return out;
}

function packet(first: number, parts: Parts): Uint8Array {
  const { out, offset } = withLength(first, parts.size);
  let at = offset;
  for (const part of parts.list) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Encodes CONNECT. */
export function encodeConnect(c: ConnectFields): Uint8Array {
  const parts = new Parts();
  const will = c.will;
  const flags = (c.username !== undefined ? 0x80 : 0) | (c.password !== undefined ? 0x40 : 0) |
    (will?.retain ? 0x20 : 0) | ((will?.qos ?? 0) << 3) | (will ? 0x04 : 0) |
    (c.clean ? 0x02 : 0);
  parts.field(utf8.encode("MQTT"));
  parts.raw(Uint8Array.of(c.version, flags, c.keepalive >> 8, c.keepalive & 0xff));
  if (c.version === 5) {
    parts.raw(propertyBlock(
      c.sessionExpiry === undefined ? {} : { sessionExpiryInterval: c.sessionExpiry },
    ));
  }
  parts.field(utf8.encode(c.clientId));
  if (will) {
    if (c.version === 5) parts.raw(propertyBlock({}));
    parts.field(utf8.encode(will.topic));
    parts.field(will.payload);
  }
  if (c.username !== undefined) parts.field(utf8.encode(c.username));
  if (c.password !== undefined) parts.field(utf8.encode(c.password));
  return packet(PacketType.CONNECT << 4, parts);
}

/** One filter of a SUBSCRIBE; `noLocal` and `retainAsPublished` are 5.0 only. */
export interface SubscribeFilter {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
}

/** Encodes SUBSCRIBE. */
export function encodeSubscribe(
  packetId: number,
  filters: readonly SubscribeFilter[],
  version: 4 | 5,
): Uint8Array {
  const parts = new Parts();
  parts.raw(Uint8Array.of(packetId >> 8, packetId & 0xff));
  if (version === 5) parts.raw(propertyBlock({}));
  for (const f of filters) {
    parts.field(utf8.encode(f.filter));
    const options = version === 5
      ? f.qos | (f.noLocal ? 4 : 0) | (f.retainAsPublished ? 8 : 0)
      : f.qos;
    parts.raw(Uint8Array.of(options));
  }
  return packet((PacketType.SUBSCRIBE << 4) | 2, parts);
}

/** A CONNACK as the bridge reads it. */
export interface Connack {
  sessionPresent: boolean;
  /** 3.1.1 return code or 5.0 reason code; 0 is accepted. */
  code: number;
  properties: Properties;
}

/** Decodes CONNACK; throws {@link ProtocolError} when it is malformed. */
export function decodeConnack(frame: Uint8Array, version: 4 | 5): Connack {
  const reader = new Reader(frame, bodyStart(frame));
  const flags = reader.byte("connect acknowledge flags");
  const code = reader.byte("connect return code");
  const properties = version === 5 && reader.left > 0
    ? decodeProperties(reader, PacketType.CONNACK)
    : {};
  if (reader.left !== 0) throw new ProtocolError("trailing bytes after CONNACK");
  return { sessionPresent: (flags & 1) !== 0, code, properties };
}

/** The return or reason codes of a SUBACK, one per filter. */
export function decodeSuback(frame: Uint8Array, version: 4 | 5): number[] {
  const reader = new Reader(frame, bodyStart(frame));
  reader.packetId();
  if (version === 5) decodeProperties(reader, PacketType.SUBACK);
  const codes: number[] = [];
  while (reader.left > 0) codes.push(reader.byte("SUBACK code"));
  return codes;
}
