/**
 * The packets a client sends to the broker, as the broker's handlers see them, and the protocol
 * error that closes a connection.
 *
 * @module
 */

/** A packet that breaks the standard; the connection that sent it is closed. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
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

/** QoS levels. */
export type QoS = 0 | 1 | 2;

/** A will message announced in CONNECT. */
export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

/** CONNECT. `returnCode` is set when the broker must refuse it with that CONNACK code. */
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
}

/** PUBLISH. `frame` is the whole packet as received, reused when it can be forwarded as is. */
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
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP. */
export interface AckPacket {
  type:
    | typeof PacketType.PUBACK
    | typeof PacketType.PUBREC
    | typeof PacketType.PUBREL
    | typeof PacketType.PUBCOMP;
  packetId: number;
}

/** One filter of a SUBSCRIBE. */
export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
}

/** SUBSCRIBE. */
export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE;
  packetId: number;
  subscriptions: SubscriptionRequest[];
}

/** UNSUBSCRIBE. */
export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE;
  packetId: number;
  filters: string[];
}

/** PINGREQ or DISCONNECT: no content. */
export interface EmptyPacket {
  type: typeof PacketType.PINGREQ | typeof PacketType.DISCONNECT;
}

/** Any packet a client may send. */
export type ClientPacket =
  | ConnectPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | UnsubscribePacket
  | EmptyPacket;
