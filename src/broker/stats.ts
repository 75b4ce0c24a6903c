/**
 * Counters the broker keeps for `$SYS`, `/metrics` and embedders. Plain numbers bumped on the hot
 * path, and one small table of refusals by reason; gauges (clients, retained, subscriptions) are read from the broker when asked.
 *
 * @module
 */
import type { ProtocolLevel } from "../protocol/packets.ts";

/**
 * A count per protocol level and QoS: `byQos[version][qos]`. Fixed arrays rather than a map, so
 * that counting a message is two loads and an add, with nothing to allocate or look up by name.
 */
export type ByVersionQos = Record<ProtocolLevel, [qos0: number, qos1: number, qos2: number]>;

function byVersionQos(): ByVersionQos {
  return { 3: [0, 0, 0], 4: [0, 0, 0], 5: [0, 0, 0] };
}

/** Running totals since start. */
export interface Stats {
  bytesReceived: number;
  bytesSent: number;
  /** Every packet received. */
  messagesReceived: number;
  /** Every packet sent. */
  messagesSent: number;
  publishReceived: number;
  publishSent: number;
  /** {@link Stats.publishReceived} by the publisher's protocol level and the PUBLISH's QoS. */
  publishReceivedByQos: ByVersionQos;
  /** {@link Stats.publishSent} by the receiver's protocol level and the delivery's QoS. */
  publishSentByQos: ByVersionQos;
  /** Bytes of those PUBLISH packets received, whole packets as on the wire. */
  publishBytesReceivedByQos: ByVersionQos;
  /** Bytes of those PUBLISH packets sent (resends not counted, as in `publishSent`). */
  publishBytesSentByQos: ByVersionQos;
  /** QoS 0 messages dropped because a connection's output was full. */
  droppedQos0: number;
  /** QoS 1/2 messages dropped because a session's queue was full. */
  droppedQueued: number;
  /** Messages not sent to a 5.0 client because they exceed its Maximum Packet Size. */
  droppedTooLarge: number;
  /** Messages dropped unsent because their Message Expiry Interval passed (queued or retained). */
  messagesExpired: number;
  /** Messages of shared subscriptions given to another member after theirs left. */
  sharedRedelivered: number;
  /** Messages of shared subscriptions that no member could take (all gone or full). */
  sharedDropped: number;
  /** Connections refused by `max-connections`. */
  connectionsRefused: number;
  /**
   * CONNECTs refused with a CONNACK, by reason: the reason code's name with underscores
   * (`not_authorized`, `quota_exceeded`), one entry per reason seen.
   */
  connectsRefused: Record<string, number>;
  /**
   * CONNECTs the authentication plugins accepted (plain or enhanced authentication), whether or
   * not a later check (`max-sessions`, session ownership) refused them.
   */
  authSucceeded: number;
  /** Messages published by clients that matched no subscription. */
  droppedNoSubscribers: number;
  /** Most clients connected at once. */
  clientsMaximum: number;
  /** Retained messages deleted because their Message Expiry Interval passed. */
  retainedExpired: number;
  /** Retained messages delivered but not stored: `max-retained-messages` or `-bytes` reached. */
  retainedDropped: number;
  /** CONNECTs refused because `max-sessions` was reached. */
  sessionsRefused: number;
  /**
   * Disconnected sessions removed at the end of their expiry (`persistent-session-expiry`, or
   * the one a 5.0 client chose).
   */
  sessionsExpired: number;
  /** Topic filters refused because `max-subscriptions-per-session` was reached. */
  subscriptionsRefused: number;
  /** Connections admitted (CONNACK 0) speaking MQTT 3.1, 3.1.1 and 5.0. */
  connectionsMqtt31: number;
  connectionsMqtt311: number;
  connectionsMqtt5: number;
}

/** Counters all at zero. */
export function newStats(): Stats {
  return {
    bytesReceived: 0,
    bytesSent: 0,
    messagesReceived: 0,
    messagesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishReceivedByQos: byVersionQos(),
    publishSentByQos: byVersionQos(),
    publishBytesReceivedByQos: byVersionQos(),
    publishBytesSentByQos: byVersionQos(),
    droppedQos0: 0,
    droppedQueued: 0,
    droppedTooLarge: 0,
    messagesExpired: 0,
    sharedRedelivered: 0,
    sharedDropped: 0,
    connectionsRefused: 0,
    connectsRefused: {},
    authSucceeded: 0,
    droppedNoSubscribers: 0,
    clientsMaximum: 0,
    retainedDropped: 0,
    retainedExpired: 0,
    sessionsRefused: 0,
    sessionsExpired: 0,
    subscriptionsRefused: 0,
    connectionsMqtt31: 0,
    connectionsMqtt311: 0,
    connectionsMqtt5: 0,
  };
}
