/**
 * Decodes one whole packet (as cut by the framer) into a {@link ClientPacket}, checking every
 * server-side rule of the standard that can be checked on the bytes alone. PUBLISH, the
 * acknowledgements, SUBSCRIBE and UNSUBSCRIBE are decoded here without copying (the hot path and
 * trivial layouts); so is CONNECT, copying only what the session keeps (will payload, password).
 * MQTT 5.0 packets, CONNECT included once its level is read, are decoded by decode5.ts.
 *
 * @module
 */
import {
  type AckPacket,
  type ClientPacket,
  ConnackCode,
  type ConnectPacket,
  PacketType,
  ProtocolError,
  type ProtocolLevel,
  type PublishPacket,
  type QoS,
  type SubscribePacket,
  type UnsubscribePacket,
} from "./packets.ts";
import { decodeConnect5, decodePacket5 } from "./decode5.ts";
import { bodyStart, expectFlags, hasWildcard, Reader } from "./reader.ts";
import { MAX_TOPIC_LEVELS, tooManyLevels } from "./topic.ts";

const { UNACCEPTABLE_PROTOCOL } = ConnackCode;

function decodePublish(frame: Uint8Array): PublishPacket {
  const header = frame[0];
  const qos = (header >> 1) & 3;
  if (qos === 3) throw new ProtocolError("PUBLISH with QoS 3");
  const dup = (header & 8) !== 0;
  if (dup && qos === 0) throw new ProtocolError("PUBLISH QoS 0 with DUP set");
  const reader = new Reader(frame, bodyStart(frame));
  const topic = reader.topicName();
  if (topic.length === 0) throw new ProtocolError("empty topic name");
  if (hasWildcard(topic)) throw new ProtocolError("wildcard in PUBLISH topic");
  if (tooManyLevels(topic)) {
    throw new ProtocolError(`topic name has more than ${MAX_TOPIC_LEVELS} levels`);
  }
  const packetIdOffset = qos > 0 ? reader.pos : -1;
  const packetId = qos > 0 ? reader.packetId() : 0;
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
  };
}

function decodeAck(frame: Uint8Array, type: AckPacket["type"]): AckPacket {
  expectFlags(frame, type === PacketType.PUBREL ? 2 : 0, "acknowledgement");
  if (frame.length !== 4) throw new ProtocolError("acknowledgement of the wrong length");
  return { type, packetId: new Reader(frame, 2).packetId() };
}

function decodeSubscribe(frame: Uint8Array): SubscribePacket {
  expectFlags(frame, 2, "SUBSCRIBE");
  const reader = new Reader(frame, bodyStart(frame));
  const packetId = reader.packetId();
  const subscriptions: SubscribePacket["subscriptions"] = [];
  while (reader.left > 0) {
    const filter = reader.topic("topic filter");
    const qos = reader.byte("requested QoS");
    if (qos > 2) throw new ProtocolError("SUBSCRIBE with an invalid requested QoS byte");
    subscriptions.push({ filter, qos: qos as QoS });
  }
  if (subscriptions.length === 0) throw new ProtocolError("SUBSCRIBE without a topic filter");
  return { type: PacketType.SUBSCRIBE, packetId, subscriptions };
}

function decodeUnsubscribe(frame: Uint8Array): UnsubscribePacket {
  expectFlags(frame, 2, "UNSUBSCRIBE");
  const reader = new Reader(frame, bodyStart(frame));
  const packetId = reader.packetId();
  const filters: string[] = [];
  while (reader.left > 0) filters.push(reader.topic("topic filter"));
  if (filters.length === 0) throw new ProtocolError("UNSUBSCRIBE without a topic filter");
  return { type: PacketType.UNSUBSCRIBE, packetId, filters };
}

function decodeConnect(frame: Uint8Array, version: ProtocolLevel): ConnectPacket {
  expectFlags(frame, 0, "CONNECT");
  const reader = new Reader(frame, bodyStart(frame));
  const protocolName = reader.string("protocol name");
  const protocolVersion = reader.byte("protocol level");
  const refused = (returnCode: number): ConnectPacket => ({
    type: PacketType.CONNECT,
    protocolName,
    protocolVersion,
    clientId: "",
    cleanSession: true,
    keepalive: 0,
    returnCode,
  });
  if (protocolName === "MQTT") {
    if (protocolVersion === 5 && version === 5) return decodeConnect5(frame, reader.pos);
    if (protocolVersion !== 4) return refused(UNACCEPTABLE_PROTOCOL);
  } else if (protocolName === "MQIsdp") {
    if (protocolVersion !== 3) return refused(UNACCEPTABLE_PROTOCOL);
  } else {
    throw new ProtocolError(`unknown protocol name ${JSON.stringify(protocolName)}`);
  }
  const flags = reader.byte("connect flags");
  if (flags & 1) throw new ProtocolError("reserved CONNECT flag set");
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  if (willQos === 3) throw new ProtocolError("will QoS 3");
  if (!hasWill && (willQos !== 0 || (flags & 0x20))) {
    throw new ProtocolError("will QoS or retain set without a will");
  }
  const hasUsername = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  if (hasPassword && !hasUsername && protocolVersion === 4) {
    throw new ProtocolError("password without user name");
  }
  const keepalive = reader.uint16("keepalive");
  const clientId = reader.string("client identifier");
  let will: ConnectPacket["will"];
  if (hasWill) {
    const topic = reader.topic("will topic");
    if (topic.length === 0 || hasWildcard(topic)) throw new ProtocolError("invalid will topic");
    // Copies: the session keeps these, and should not hold the connection's read buffer.
    const payload = reader.binary("will message").slice();
    will = { topic, payload, qos: willQos as QoS, retain: (flags & 0x20) !== 0 };
  }
  const username = hasUsername ? reader.string("user name") : undefined;
  const password = hasPassword ? reader.binary("password").slice() : undefined;
  if (reader.left !== 0) throw new ProtocolError("trailing bytes after CONNECT payload");
  return {
    type: PacketType.CONNECT,
    protocolName,
    protocolVersion,
    clientId,
    cleanSession: (flags & 0x02) !== 0,
    keepalive,
    username,
    password,
    will,
  };
}

/**
 * Decodes one whole packet; throws {@link ProtocolError} for anything the standard forbids.
 *
 * @param version the protocol level the connection speaks; before CONNECT, the highest level the
 *   caller accepts. A CONNECT states its own level: one above `version` is decoded no further
 *   and asks for CONNACK 1 (`returnCode`), as every level but 3 and 4 does at the default.
 */
export function decodePacket(frame: Uint8Array, version: ProtocolLevel = 4): ClientPacket {
  const type = frame[0] >> 4;
  if (version === 5 && type !== PacketType.CONNECT) return decodePacket5(frame);
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
    case PacketType.DISCONNECT:
      expectFlags(frame, 0, type === PacketType.PINGREQ ? "PINGREQ" : "DISCONNECT");
      if (frame.length !== 2) throw new ProtocolError("PINGREQ or DISCONNECT with a body");
      return { type };
    case PacketType.CONNECT:
      return decodeConnect(frame, version);
    default:
      throw new ProtocolError(`packet type ${type} is not sent by clients`);
  }
}
