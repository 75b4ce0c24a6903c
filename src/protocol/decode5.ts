/**
 * Decodes the packets an MQTT 5.0 client sends, with their properties and reason codes, checking
 * every rule of the standard that can be checked on the bytes alone. State-dependent rules (topic
 * alias maximum, receive maximum, authentication method of the connection) are the connection's.
 *
 * Reason codes follow one rule where the standard names none: 0x81 (malformed) when the bytes
 * cannot be read as the packet, 0x82 (protocol error) when a well-formed field holds a value the
 * rules forbid.
 *
 * @module
 */
import {
  type AckPacket,
  type AuthPacket,
  type ClientPacket,
  type ConnectPacket,
  type DisconnectPacket,
  packetName,
  PacketType,
  ProtocolError,
  protocolError,
  type PublishPacket,
  type QoS,
  type RetainHandling,
  type SubscribePacket,
  type UnsubscribePacket,
} from "./packets.ts";
import {
  decodeProperties,
  type Properties,
  type PropertyContext,
  WILL_PROPERTIES,
} from "./properties.ts";
import { bodyStart, expectFlags, hasWildcard, Reader } from "./reader.ts";
import { reasonAllowed } from "./reason.ts";
import { MAX_TOPIC_LEVELS, tooManyLevels } from "./topic.ts";

function decodePublish(frame: Uint8Array): PublishPacket {
  const header = frame[0];
  const qos = (header >> 1) & 3;
  if (qos === 3) throw new ProtocolError("PUBLISH with QoS 3");
  const dup = (header & 8) !== 0;
  if (dup && qos === 0) throw protocolError("PUBLISH QoS 0 with DUP set");
  const reader = new Reader(frame, bodyStart(frame));
  const topic = reader.topicName();
  if (hasWildcard(topic)) throw protocolError("wildcard in PUBLISH topic");
  if (tooManyLevels(topic)) {
    throw new ProtocolError(`topic name has more than ${MAX_TOPIC_LEVELS} levels`);
  }
  const packetIdOffset = qos > 0 ? reader.pos : -1;
  const packetId = qos > 0 ? reader.packetId() : 0;
  const properties = decodeProperties(reader, PacketType.PUBLISH);
  if (properties.subscriptionIdentifier !== undefined) {
    throw protocolError("subscription identifier in a PUBLISH from a client");
  }
  if (topic.length === 0 && properties.topicAlias === undefined) {
    throw protocolError("empty topic name without a topic alias");
  }
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: frame.subarray(reader.pos),
    qos: qos as QoS,
    retain: (header & 1) !== 0,
    dup,
    packetId,
    frame,
    packetIdOffset,
    properties,
  };
}

/** Reads the reason code at the reader, if the packet has one, and checks it fits the packet. */
function reasonCode(reader: Reader, type: number): number {
  if (reader.left === 0) return 0;
  const code = reader.byte("reason code");
  if (!reasonAllowed(type, code)) {
    throw protocolError(`reason code 0x${code.toString(16)} is not allowed in ${packetName(type)}`);
  }
  return code;
}

/** The properties at the reader, if the packet has any, and nothing after them. */
function tailProperties(reader: Reader, type: PropertyContext): Properties {
  const properties = reader.left > 0 ? decodeProperties(reader, type) : {};
  if (reader.left !== 0) throw new ProtocolError(`trailing bytes after ${packetName(type)}`);
  return properties;
}

function decodeAck(frame: Uint8Array, type: AckPacket["type"]): AckPacket {
  expectFlags(frame, type === PacketType.PUBREL ? 2 : 0, "acknowledgement");
  const reader = new Reader(frame, bodyStart(frame));
  const packetId = reader.packetId();
  const code = reasonCode(reader, type);
  return { type, packetId, reasonCode: code, properties: tailProperties(reader, type) };
}

function decodeSubscribe(frame: Uint8Array): SubscribePacket {
  expectFlags(frame, 2, "SUBSCRIBE");
  const reader = new Reader(frame, bodyStart(frame));
  const packetId = reader.packetId();
  const properties = decodeProperties(reader, PacketType.SUBSCRIBE);
  const subscriptions: SubscribePacket["subscriptions"] = [];
  while (reader.left > 0) {
    const filter = reader.topic("topic filter");
    const options = reader.byte("subscription options");
    if (options & 0xc0) throw new ProtocolError("reserved subscription option bits set");
    const qos = options & 3;
    if (qos === 3) throw protocolError("SUBSCRIBE with maximum QoS 3");
    const retainHandling = (options >> 4) & 3;
    if (retainHandling === 3) throw protocolError("SUBSCRIBE with retain handling 3");
    const noLocal = (options & 4) !== 0;
    if (noLocal && filter.startsWith("$share/")) {
      throw protocolError("no local on a shared subscription");
    }
    subscriptions.push({
      filter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished: (options & 8) !== 0,
      retainHandling: retainHandling as RetainHandling,
    });
  }
  if (subscriptions.length === 0) throw protocolError("SUBSCRIBE without a topic filter");
  return { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties };
}

function decodeUnsubscribe(frame: Uint8Array): UnsubscribePacket {
  expectFlags(frame, 2, "UNSUBSCRIBE");
  const reader = new Reader(frame, bodyStart(frame));
  const packetId = reader.packetId();
  const properties = decodeProperties(reader, PacketType.UNSUBSCRIBE);
  const filters: string[] = [];
  while (reader.left > 0) filters.push(reader.topic("topic filter"));
  if (filters.length === 0) throw protocolError("UNSUBSCRIBE without a topic filter");
  return { type: PacketType.UNSUBSCRIBE, packetId, filters, properties };
}

function decodeDisconnect(frame: Uint8Array): DisconnectPacket {
  expectFlags(frame, 0, "DISCONNECT");
  const reader = new Reader(frame, bodyStart(frame));
  const code = reasonCode(reader, PacketType.DISCONNECT);
  const properties = tailProperties(reader, PacketType.DISCONNECT);
  return { type: PacketType.DISCONNECT, reasonCode: code, properties };
}

function decodeAuth(frame: Uint8Array): AuthPacket {
  expectFlags(frame, 0, "AUTH");
  const reader = new Reader(frame, bodyStart(frame));
  // Only the whole variable header may be left out (success, no properties): unlike the acks
  // and DISCONNECT, AUTH has no form with a reason code and no property length.
  const short = reader.left === 0;
  if (reader.left === 1) throw new ProtocolError("AUTH without a property length");
  const code = reasonCode(reader, PacketType.AUTH);
  const properties = tailProperties(reader, PacketType.AUTH);
  if (!short && properties.authenticationMethod === undefined) {
    throw protocolError("AUTH without an authentication method");
  }
  return { type: PacketType.AUTH, reasonCode: code, properties };
}

/**
 * Decodes the rest of a 5.0 CONNECT, from the connect flags at `start` on. The packet is copied
 * once first: what the session keeps (will, password, authentication data) then holds its own
 * few bytes and not the connection's whole read buffer, for as long as the session lives.
 */
export function decodeConnect5(frame: Uint8Array, start: number): ConnectPacket {
  const reader = new Reader(frame.slice(), start);
  const flags = reader.byte("connect flags");
  if (flags & 1) throw new ProtocolError("reserved CONNECT flag set");
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  if (willQos === 3) throw new ProtocolError("will QoS 3");
  const willRetain = (flags & 0x20) !== 0;
  if (!hasWill && (willQos !== 0 || willRetain)) {
    throw new ProtocolError("will QoS or retain set without a will");
  }
  const keepalive = reader.uint16("keepalive");
  const properties = decodeProperties(reader, PacketType.CONNECT);
  const clientId = reader.string("client identifier");
  let will: ConnectPacket["will"];
  if (hasWill) {
    const willProperties = decodeProperties(reader, WILL_PROPERTIES);
    const topic = reader.topic("will topic");
    if (topic.length === 0 || hasWildcard(topic)) throw new ProtocolError("invalid will topic");
    const payload = reader.binary("will payload");
    will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: willProperties };
  }
  // 5.0 allows a password without a user name.
  const username = flags & 0x80 ? reader.string("user name") : undefined;
  const password = flags & 0x40 ? reader.binary("password") : undefined;
  if (reader.left !== 0) throw new ProtocolError("trailing bytes after CONNECT payload");
  return {
    type: PacketType.CONNECT,
    protocolName: "MQTT",
    protocolVersion: 5,
    clientId,
    cleanSession: (flags & 0x02) !== 0,
    keepalive,
    username,
    password,
    will,
    properties,
  };
}

/**
 * Decodes one whole 5.0 packet other than CONNECT, which decode.ts reads as far as its protocol
 * level before it knows the version; throws {@link ProtocolError} with the reason code to
 * disconnect with.
 */
export function decodePacket5(frame: Uint8Array): ClientPacket {
  const type = frame[0] >> 4;
  switch (type) {
    case PacketType.PUBLISH:
      return decodePublish(frame);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return decodeAck(frame, type);
    case PacketType.SUBSCRIBE:
      return decodeSubscribe(frame);
    case PacketType.UNSUBSCRIBE:
      return decodeUnsubscribe(frame);
    case PacketType.PINGREQ:
      expectFlags(frame, 0, "PINGREQ");
      if (frame.length !== 2) throw new ProtocolError("PINGREQ with a body");
      return { type };
    case PacketType.DISCONNECT:
      return decodeDisconnect(frame);
    case PacketType.AUTH:
      return decodeAuth(frame);
    case 0:
      throw new ProtocolError("reserved packet type 0");
    default:
      throw protocolError(`packet type ${type} is not sent by clients`);
  }
}
