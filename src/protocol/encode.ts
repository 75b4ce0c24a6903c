/**
 * Encodes the packets the broker sends to 3.1.1 clients (5.0: encode5.ts). All of them are short
 * fixed layouts except PUBLISH, which is built once per message and flag set and then shared by
 * every subscriber that gets it.
 *
 * @module
 */
import { varintLength, writeVarint } from "./bytes.ts";
import { PacketType, type QoS } from "./packets.ts";

const utf8 = new TextEncoder();

/** PINGRESP, always the same two bytes. */
export const PINGRESP: Uint8Array = Uint8Array.of(PacketType.PINGRESP << 4, 0);

/** CONNACK with a return code (0 accepted, 1-5 refused) and the session-present flag. */
export function encodeConnack(returnCode: number, sessionPresent: boolean): Uint8Array {
  return Uint8Array.of(PacketType.CONNACK << 4, 2, sessionPresent ? 1 : 0, returnCode);
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP for a packet identifier. */
export function encodeAck(
  type:
    | typeof PacketType.PUBACK
    | typeof PacketType.PUBREC
    | typeof PacketType.PUBREL
    | typeof PacketType.PUBCOMP,
  packetId: number,
): Uint8Array {
  const flags = type === PacketType.PUBREL ? 2 : 0;
  return Uint8Array.of((type << 4) | flags, 2, packetId >> 8, packetId & 0xff);
}

/**
 * A packet of `body` bytes after the fixed header, with the fixed header written; `offset` is
 * where the body goes.
 */
export function withLength(first: number, body: number): { out: Uint8Array; offset: number } {
  const out = new Uint8Array(1 + varintLength(body) + body);
  out[0] = first;
  return { out, offset: writeVarint(out, 1, body) };
}

/** SUBACK with one return code per filter (0-2 granted QoS, 0x80 failure). */
export function encodeSuback(packetId: number, codes: readonly number[]): Uint8Array {
  const { out, offset } = withLength(PacketType.SUBACK << 4, 2 + codes.length);
  out[offset] = packetId >> 8;
  out[offset + 1] = packetId & 0xff;
  out.set(codes, offset + 2);
  return out;
}

/** UNSUBACK. */
export function encodeUnsuback(packetId: number): Uint8Array {
  return Uint8Array.of(PacketType.UNSUBACK << 4, 2, packetId >> 8, packetId & 0xff);
}

/**
 * A PUBLISH packet with its packet identifier bytes set to zero, and where they are, so that one
 * encoding serves every subscriber: QoS 0 shares the bytes as they are, QoS 1/2 patch a copy.
 */
export interface PublishTemplate {
  bytes: Uint8Array;
  /** Offset of the two packet-identifier bytes; -1 for QoS 0. */
  packetIdOffset: number;
}

/** Encodes a PUBLISH whose topic is already UTF-8. */
export function encodePublish(
  topic: Uint8Array,
  payload: Uint8Array,
  qos: QoS,
  retain: boolean,
  dup = false,
): PublishTemplate {
  const body = 2 + topic.length + (qos > 0 ? 2 : 0) + payload.length;
  const first = (PacketType.PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  const { out, offset } = withLength(first, body);
  out[offset] = topic.length >> 8;
  out[offset + 1] = topic.length & 0xff;
  out.set(topic, offset + 2);
  let at = offset + 2 + topic.length;
  const packetIdOffset = qos > 0 ? at : -1;
  if (qos > 0) at += 2;
  out.set(payload, at);
  return { bytes: out, packetIdOffset };
}

/** Encodes a topic name once, for {@link encodePublish}. */
export function encodeTopic(topic: string): Uint8Array {
  return utf8.encode(topic);
}
