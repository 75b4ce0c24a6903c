/**
 * The packets a client sends to the broker, as the broker's handlers see them, and the protocol
 * error that closes a connection. One shape serves MQTT 3.1.1 and 5.0: the 5.0 fields are
 * optional, and a packet decoded as 5.0 always has its `properties` (and `reasonCode` where the
 * packet has one), so their presence tells the versions apart.
 *
 * @module
 */
import type { Properties } from "./properties.ts";
import { ReasonCode } from "./reason.ts";

/**
 * A packet that breaks the standard; the connection that sent it is closed. `code` is the MQTT
 * 5.0 reason code to close it with: 0x81 (malformed packet) unless the standard names another,
 * usually 0x82 (protocol error).
 */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(message: string, readonly code: number = ReasonCode.MALFORMED_PACKET) {
    super(message);
  }
}

/** A {@link ProtocolError} with reason code 0x82: a well-formed packet the rules forbid. */
export function protocolError(message: string): ProtocolError {
  return new ProtocolError(message, ReasonCode.PROTOCOL_ERROR);
}

/** Packet type numbers (the high nibble of the first byte). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

/** CONNACK return codes of MQTT 3.1.1. */
export const ConnackCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USER_NAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/** The name of a packet type for messages, e.g. `PUBACK`. */
export function packetName(type: number): string {
  const entry = Object.entries(PacketType).find(([, value]) => value === type);
  return entry ? entry[0] : `packet type ${type}`;
}

/** QoS levels. */
export type QoS = 0 | 1 | 2;

/** Protocol levels: 3 is MQTT 3.1, 4 is 3.1.1, 5 is 5.0. */
export type ProtocolLevel = 3 | 4 | 5;

/** A will message announced in CONNECT. */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** 5.0 will properties (will delay, message expiry, content type, ...). */
  properties?: Properties;
}

/**
 * CONNECT. `returnCode` is set when the broker must refuse it with that 3.1.1 CONNACK code. In
 * 5.0, `cleanSession` is the Clean Start flag.
 */
export interface ConnectPacket {
  type: typeof PacketType.CONNECT;
  protocolName: string;
  protocolVersion: number;
  clientId: string;
  cleanSession: boolean;
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  returnCode?: number;
  properties?: Properties;
}

/**
 * PUBLISH. `frame` is the whole packet as received, reused when it can be forwarded as is. In
 * 5.0 `topic` is empty when the packet names its topic by `properties.topicAlias` alone: the
 * connection's alias map resolves it, the decoder has no state.
 */
export interface PublishPacket {
  type: typeof PacketType.PUBLISH;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  packetId: number;
  frame: Uint8Array;
  /** Offset of the packet identifier in `frame`; -1 for QoS 0. */
  packetIdOffset: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP. */
export interface AckPacket {
  type:
    | typeof PacketType.PUBACK
    | typeof PacketType.PUBREC
    | typeof PacketType.PUBREL
    | typeof PacketType.PUBCOMP;
  packetId: number;
  /** 5.0 only; 0 (success) when the packet leaves it out. */
  reasonCode?: number;
  properties?: Properties;
}

/** What to do with retained messages when a 5.0 subscription is made. */
export type RetainHandling =
  /** Send them at every SUBSCRIBE. */
  | 0
  /** Send them only if the subscription did not exist. */
  | 1
  /** Never send them. */
  | 2;

/** One filter of a SUBSCRIBE, with the 5.0 subscription options (absent in 3.1.1). */
export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
  /** Do not send the subscriber its own messages. */
  noLocal?: boolean;
  /** Keep the RETAIN flag of forwarded messages as published. */
  retainAsPublished?: boolean;
  retainHandling?: RetainHandling;
}

/** SUBSCRIBE. */
export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties?: Properties;
}

/** UNSUBSCRIBE. */
export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  filters: string[];
  properties?: Properties;
}

/** PINGREQ: no content. */
export interface EmptyPacket {
  type: typeof PacketType.PINGREQ;
}

/** DISCONNECT: empty in 3.1.1; in 5.0 with a reason code (0 when left out) and properties. */
export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT;
  reasonCode?: number;
  properties?: Properties;
}

/** AUTH (5.0 only): a step of enhanced authentication. */
export interface AuthPacket {
  type: typeof PacketType.AUTH;
  /** 0x00 success, 0x18 continue authentication, 0x19 re-authenticate. */
  reasonCode: number;
  properties: Properties;
}

/** Any packet a client may send. */
export type ClientPacket =
  | ConnectPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | UnsubscribePacket
  | EmptyPacket
  | DisconnectPacket
  | AuthPacket;
