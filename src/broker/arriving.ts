/**
 * A session on its way here from another node of a cluster: its subscriptions are in the trie
 * before the old node lets go of it, so that no QoS 1/2 message for it falls between the two
 * nodes, and what they match waits here until the session arrives and is merged into it (see
 * `BrokerCore.adopt`).
 *
 * @module
 */
import type { Limits } from "../config/types.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { QoS } from "../protocol/packets.ts";
import type { RoutedMessage } from "./message.ts";
import {
  type Room,
  ROOM_QUEUE,
  type ShareGroup,
  type Subscriber,
  type SubscriptionOptions,
} from "./subscriptions.ts";

/** A message taken in for an arriving session. */
export interface Arrived {
  readonly message: RoutedMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly ids: readonly number[] | undefined;
  readonly group: ShareGroup<Subscriber> | undefined;
}

/**
 * Takes in, in order, the QoS 1/2 messages its subscriptions match, within the bounds of a
 * session's queue (`max-queued-messages`, `max-queued-bytes`).
 */
export class Arriving implements Subscriber {
  routeMark = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined = undefined;
  readonly taken: Arrived[] = [];
  #bytes = 0;

  /**
   * @param subscriptions by filter, as the old node holds them
   * @param dropped counts a message past the bounds
   */
  constructor(
    readonly info: ClientInfo,
    readonly subscriptions: readonly (readonly [string, SubscriptionOptions])[],
    readonly limits: Limits,
    readonly dropped: () => void,
  ) {}

  deliver(
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    ids?: readonly number[],
    group?: ShareGroup<Subscriber>,
  ): void {
    // QoS 0 is not queued for a session without a connection.
    if (qos === 0) return;
    const { maxQueuedMessages, maxQueuedBytes } = this.limits;
    if (
      this.taken.length >= maxQueuedMessages ||
      (maxQueuedBytes > 0 && this.#bytes + message.size > maxQueuedBytes)
    ) return this.dropped();
    message.own();
    this.#bytes += message.size;
    this.taken.push({ message, qos, retain, ids, group });
  }

  room(_qos: QoS): Room {
    return ROOM_QUEUE;
  }
}
