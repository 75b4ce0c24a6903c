/**
 * MQTT 5.0 reason codes (section 2.4), their names for log lines, and how a 5.0 CONNACK refusal
 * reads to a 3.1.1 client.
 *
 * @module
 */

/**
 * Every reason code of the standard. Some values have several names, one per packet that uses
 * them (0x00 is Success, Normal disconnection and Granted QoS 0).
 */
export const ReasonCode = {
  SUCCESS: 0x00,
  NORMAL_DISCONNECTION: 0x00,
  GRANTED_QOS_0: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL_MESSAGE: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  CONTINUE_AUTHENTICATION: 0x18,
  RE_AUTHENTICATE: 0x19,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8a,
  SERVER_SHUTTING_DOWN: 0x8b,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  ADMINISTRATIVE_ACTION: 0x98,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  USE_ANOTHER_SERVER: 0x9c,
  SERVER_MOVED: 0x9d,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  CONNECTION_RATE_EXCEEDED: 0x9f,
  MAXIMUM_CONNECT_TIME: 0xa0,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const;

/** One of the values of {@link ReasonCode}. */
export type ReasonCodeValue = typeof ReasonCode[keyof typeof ReasonCode];

/** Names derived from the constants: the first name of a value is its name in logs. */
const NAMES = new Map<number, string>();
for (const [key, code] of Object.entries(ReasonCode)) {
  if (!NAMES.has(code)) NAMES.set(code, key.toLowerCase().replaceAll("_", " "));
}

/** A short lower-case name for a log line, e.g. `0x87` → `"not authorized"`. */
export function reasonName(code: number): string {
  return NAMES.get(code) ?? `unknown reason 0x${code.toString(16).padStart(2, "0")}`;
}

const codes = (...list: number[]): ReadonlySet<number> => new Set(list);
const ACKS = codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99);
const RELEASES = codes(0x00, 0x92);

/**
 * The reason codes each packet may carry (the "Packets" column of table 2-6), by packet type
 * number: this module is imported by packets.ts, so it cannot use `PacketType`.
 */
const ALLOWED = new Map<number, ReadonlySet<number>>([
  // CONNACK
  [
    2,
    codes(
      0x00,
      0x80,
      0x81,
      0x82,
      0x83,
      0x84,
      0x85,
      0x86,
      0x87,
      0x88,
      0x89,
      0x8a,
      0x8c,
      0x90,
      0x95,
      0x97,
      0x99,
      0x9a,
      0x9b,
      0x9c,
      0x9d,
      0x9f,
    ),
  ],
  // PUBACK, PUBREC, PUBREL, PUBCOMP
  [4, ACKS],
  [5, ACKS],
  [6, RELEASES],
  [7, RELEASES],
  // SUBACK
  [9, codes(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2)],
  // UNSUBACK
  [11, codes(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91)],
  // DISCONNECT
  [
    14,
    codes(
      0x00,
      0x04,
      0x80,
      0x81,
      0x82,
      0x83,
      0x87,
      0x89,
      0x8b,
      0x8c,
      0x8d,
      0x8e,
      0x8f,
      0x90,
      0x93,
      0x94,
      0x95,
      0x96,
      0x97,
      0x98,
      0x99,
      0x9a,
      0x9b,
      0x9c,
      0x9d,
      0x9e,
      0x9f,
      0xa0,
      0xa1,
      0xa2,
    ),
  ],
  // AUTH
  [15, codes(0x00, 0x18, 0x19)],
]);

/** Whether a packet of type `packetType` may carry reason code `code`. */
export function reasonAllowed(packetType: number, code: number): boolean {
  return ALLOWED.get(packetType)?.has(code) ?? false;
}

/** 3.1.1 CONNACK return codes, by the 5.0 reason codes that mean the same. */
const CONNACK_V4 = new Map<number, number>([
  [0x00, 0],
  [0x84, 1],
  [0x85, 2],
  [0x88, 3],
  [0x89, 3],
  [0x86, 4],
  [0x87, 5],
  // A ban and an authentication method nobody handles are refusals of this identity.
  [0x8a, 5],
  [0x8c, 5],
]);

/**
 * The 3.1.1 CONNACK return code for a 5.0 CONNACK reason code, so that the broker decides a
 * refusal once and words it for either version. Refusals with no 3.1.1 equivalent (quota, rate,
 * packet size, redirection, ...) read as 3, server unavailable: still a refusal, never an accept.
 * Malformed packet and protocol error give `undefined`: 3.1.1 has no CONNACK for them, the
 * connection is closed without one.
 *
 * @throws RangeError for a code that is not a CONNACK reason code
 */
export function connackReturnCodeV4(reasonCode: number): number | undefined {
  if (!reasonAllowed(2, reasonCode)) {
    throw new RangeError(`0x${reasonCode.toString(16)} is not a CONNACK reason code`);
  }
  if (reasonCode === ReasonCode.MALFORMED_PACKET || reasonCode === ReasonCode.PROTOCOL_ERROR) {
    return undefined;
  }
  return CONNACK_V4.get(reasonCode) ?? 3;
}
