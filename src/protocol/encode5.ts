/**
 * Encodes the packets the broker sends to MQTT 5.0 clients. Each is sized first and written into
 * one allocation; the acknowledgements, DISCONNECT and AUTH take their shortest form. PUBLISH is
 * built from a property block encoded once per message, so that a message's encodings differ
 * only in what differs per subscriber: flags, subscription identifiers and topic alias.
 *
 * @module
 */
import { varintLength, writeVarint } from "./bytes.ts";
import { type PublishTemplate, withLength } from "./encode.ts";
import { PacketType, type QoS } from "./packets.ts";
import { type Properties, propertiesLength, writeProperties } from "./properties.ts";

const NO_PROPERTIES: Properties = {};

/** Identifiers of the properties that vary per subscriber in a PUBLISH. */
const SUBSCRIPTION_IDENTIFIER = 0x0b;
const TOPIC_ALIAS = 0x23;

/** A packet laid out as `head` bytes, then the properties with their length, then `tail`. */
function packet(
  first: number,
  head: readonly number[],
  properties: Properties,
  tail: readonly number[] = [],
  length: number = propertiesLength(properties),
): Uint8Array {
  const body = head.length + varintLength(length) + length + tail.length;
  const { out, offset } = withLength(first, body);
  out.set(head, offset);
  let at = writeVarint(out, offset + head.length, length);
  at = writeProperties(out, at, properties);
  out.set(tail, at);
  return out;
}

/** CONNACK with a reason code, the session-present flag and the broker's properties. */
export function encodeConnack5(
  reasonCode: number,
  sessionPresent: boolean,
  properties: Properties = NO_PROPERTIES,
): Uint8Array {
  return packet(PacketType.CONNACK << 4, [sessionPresent ? 1 : 0, reasonCode], properties);
}

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP. Success without properties is the 3.1.1 layout; a reason
 * code without properties leaves out the property length.
 */
export function encodeAck5(
  type:
    | typeof PacketType.PUBACK
    | typeof PacketType.PUBREC
    | typeof PacketType.PUBREL
    | typeof PacketType.PUBCOMP,
  packetId: number,
  reasonCode = 0,
  properties: Properties = NO_PROPERTIES,
): Uint8Array {
  const first = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
  const length = propertiesLength(properties);
  if (length === 0) {
    if (reasonCode === 0) return Uint8Array.of(first, 2, packetId >> 8, packetId & 0xff);
    return Uint8Array.of(first, 3, packetId >> 8, packetId & 0xff, reasonCode);
  }
  return packet(first, [packetId >> 8, packetId & 0xff, reasonCode], properties, [], length);
}

/** SUBACK with one reason code per filter (granted QoS 0-2, or a failure 0x80 and above). */
export function encodeSuback5(
  packetId: number,
  reasonCodes: readonly number[],
  properties: Properties = NO_PROPERTIES,
): Uint8Array {
  return packet(PacketType.SUBACK << 4, [packetId >> 8, packetId & 0xff], properties, reasonCodes);
}

/** UNSUBACK with one reason code per filter (0x00 success, 0x11 no subscription existed, ...). */
export function encodeUnsuback5(
  packetId: number,
  reasonCodes: readonly number[],
  properties: Properties = NO_PROPERTIES,
): Uint8Array {
  return packet(
    PacketType.UNSUBACK << 4,
    [packetId >> 8, packetId & 0xff],
    properties,
    reasonCodes,
  );
}

/** DISCONNECT; normal disconnection without properties is the two bytes of 3.1.1. */
export function encodeDisconnect5(
  reasonCode = 0,
  properties: Properties = NO_PROPERTIES,
): Uint8Array {
  const first = PacketType.DISCONNECT << 4;
  const length = propertiesLength(properties);
  if (length === 0) {
    return reasonCode === 0 ? Uint8Array.of(first, 0) : Uint8Array.of(first, 1, reasonCode);
  }
  return packet(first, [reasonCode], properties, [], length);
}

/** AUTH; success without properties is two bytes. */
export function encodeAuth5(reasonCode = 0, properties: Properties = NO_PROPERTIES): Uint8Array {
  const first = PacketType.AUTH << 4;
  const length = propertiesLength(properties);
  if (reasonCode === 0 && length === 0) return Uint8Array.of(first, 0);
  return packet(first, [reasonCode], properties, [], length);
}

/** What one 5.0 PUBLISH encoding is made of. */
export interface Publish5 {
  /** The topic name in UTF-8; empty when `topicAlias` names a topic the client already has. */
  topic: Uint8Array;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup?: boolean;
  /** 0 (the default) leaves the identifier bytes to be patched per subscriber. */
  packetId?: number;
  /**
   * The message's properties from `encodeProperties`, shared by all its encodings; without
   * topic alias and subscription identifiers, which are added here.
   */
  properties?: Uint8Array;
  /** Identifiers of the subscriptions that matched, for this subscriber. */
  subscriptionIdentifiers?: readonly number[];
  topicAlias?: number;
}

const EMPTY = new Uint8Array(0);

/** Length of the property block of `p` (without its own length). */
function publishPropertiesLength(p: Publish5): number {
  let length = (p.properties ?? EMPTY).length + (p.topicAlias === undefined ? 0 : 3);
  for (const id of p.subscriptionIdentifiers ?? []) {
    if (!Number.isInteger(id) || id < 1 || id > 268435455) {
      throw new RangeError(`subscription identifier ${id} is not in 1..268435455`);
    }
    length += 1 + varintLength(id);
  }
  return length;
}

function publishBodyLength(p: Publish5, propsLength: number): number {
  return 2 + p.topic.length + (p.qos > 0 ? 2 : 0) + varintLength(propsLength) + propsLength +
    p.payload.length;
}

/**
 * Size in bytes of the whole PUBLISH {@link encodePublish5} would write, without writing it:
 * for the client's Maximum Packet Size before anything is encoded.
 */
export function publish5Length(p: Publish5): number {
  const body = publishBodyLength(p, publishPropertiesLength(p));
  return 1 + varintLength(body) + body;
}

/**
 * Encodes a 5.0 PUBLISH. With packet identifier 0 the result is a template as for 3.1.1: QoS 0
 * shares its bytes, QoS 1/2 patch a copy at `packetIdOffset`.
 *
 * @throws RangeError for an empty topic without a topic alias, or an alias or subscription
 *   identifier out of range
 */
export function encodePublish5(p: Publish5): PublishTemplate {
  const { topic, qos, topicAlias } = p;
  const badAlias = topicAlias !== undefined &&
    (!Number.isInteger(topicAlias) || topicAlias < 1 || topicAlias > 0xffff);
  if (badAlias) {
    throw new RangeError(`topic alias ${topicAlias} is not in 1..65535`);
  }
  if (topic.length === 0 && topicAlias === undefined) {
    throw new RangeError("a PUBLISH without a topic name needs a topic alias");
  }
  const propsLength = publishPropertiesLength(p);
  const first = (PacketType.PUBLISH << 4) | (p.dup ? 8 : 0) | (qos << 1) | (p.retain ? 1 : 0);
  const { out, offset } = withLength(first, publishBodyLength(p, propsLength));
  out[offset] = topic.length >> 8;
  out[offset + 1] = topic.length & 0xff;
  out.set(topic, offset + 2);
  let at = offset + 2 + topic.length;
  const packetIdOffset = qos > 0 ? at : -1;
  if (qos > 0) {
    const packetId = p.packetId ?? 0;
    out[at++] = packetId >> 8;
    out[at++] = packetId & 0xff;
  }
  at = writeVarint(out, at, propsLength);
  if (p.properties) {
    out.set(p.properties, at);
    at += p.properties.length;
  }
  for (const id of p.subscriptionIdentifiers ?? []) {
    out[at++] = SUBSCRIPTION_IDENTIFIER;
    at = writeVarint(out, at, id);
  }
  if (topicAlias !== undefined) {
    out[at++] = TOPIC_ALIAS;
    out[at++] = topicAlias >> 8;
    out[at++] = topicAlias & 0xff;
  }
  out.set(p.payload, at);
  return { bytes: out, packetIdOffset };
}
