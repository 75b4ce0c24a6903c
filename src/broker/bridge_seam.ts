/**
 * What a bridge (src/bridge) sees of the broker: local subscriptions and routing, the same two
 * calls an embedder's `Broker.subscribe` and `Broker.publish` use, without their argument checks
 * (the bridge's configuration was validated) and with the subscriber and its options its own.
 *
 * @module
 */
import type { RoutedMessage } from "./message.ts";
import type { Subscriber, SubscriptionOptions } from "./subscriptions.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { Store, StoredDelivery } from "../store/types.ts";

/**
 * The client id under which a bridge's queue is stored (`$bridge/<name>`): a session of its own
 * in the store, which no MQTT client may take (CONNECT refuses the prefix).
 */
export const BRIDGE_SESSION_PREFIX = "$bridge/";

/** A delivery of a bridge's queue as the store gave it back at start, with its message. */
export interface HeldDelivery {
  delivery: StoredDelivery;
  message: RoutedMessage;
}

/** What the store held for one bridge at start, as `BrokerCore.restore` hands it back. */
export interface HeldBridge {
  /** Its queue, queued and in flight, in order. */
  deliveries: HeldDelivery[];
  /** QoS 2 packet identifiers the remote sent and had not released. */
  awaitingRelease: number[];
}

/** The part of `BrokerCore` a bridge uses. */
export interface BridgeSeam {
  /** Adds a subscriber; it gets the matching retained messages at once. Returns the remover. */
  subscribeLocal(filter: string, subscriber: Subscriber, options: SubscriptionOptions): () => void;
  /** Routes a message as the broker's own (`from` undefined). */
  route(message: RoutedMessage, from: ClientInfo | undefined): number;
  /** Where the bridge writes its queue through, as sessions do theirs. */
  readonly store: Store;
  /** Stores a message once (if not yet stored) and returns its id. */
  storeMessage(message: RoutedMessage): number;
  /** Whether output must wait for the commit of records written before it; see `BrokerCore`. */
  holdForCommit(flush: () => void): boolean;
  /** Numbers the commit that output held now waits for; see `BrokerCore`. */
  readonly pendingCommit: number;
  /** Holds the acknowledgement of the message being routed; see `BrokerCore`. */
  holdAcknowledgement(hold: (flush: () => void) => void): void;
}
