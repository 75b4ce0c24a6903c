/**
 * The bus between routing and delivery when several brokers form a cluster (src/cluster): the
 * core tells the cluster which filters its subscribers hold, hands it every message it routes
 * and the wills of its clients, and lets it deliver messages from other nodes locally only.
 * Every call is synchronous: the cluster queues and talks to Redis on its own time.
 *
 * @module
 */
import type { Will } from "../protocol/packets.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { RoutedMessage } from "./message.ts";
import type { ShareGroup, Subscriber } from "./subscriptions.ts";

/** A shared subscription by its filter (without `$share/{group}/`) and group name. */
export type ShareKey = readonly [filter: string, group: string];

/** What the core tells the cluster. */
export interface ClusterBus {
  /**
   * The local subscriptions to `filter` (of share group `group`, if given) went from none to
   * some (`added`) or from some to none.
   */
  interest(filter: string, group: string | undefined, added: boolean): void;
  /**
   * A message from a local source was routed here. `groups` are the local shared subscriptions
   * it matched: the cluster removes from the array those whose turn is on another node and sends
   * the message there. Returns how many other nodes it goes to.
   */
  routed(message: RoutedMessage, groups: ShareGroup<Subscriber>[]): number;
  /**
   * Whether output must wait until the cross-node messages routed so far are safe (in Redis, or
   * buffered while Redis is away); then `flush` runs once they are.
   */
  holdOutput(flush: () => void): boolean;
  /**
   * The will of a local client changed: set at CONNECT (`dueAt` 0, due when its connection ends),
   * waiting for its delay (`dueAt` when due), or gone (undefined: published or cleared here).
   */
  will(clientId: string, info: ClientInfo | undefined, will: Will | undefined, dueAt: number): void;
  /** A client connected here: a connection with its client id on another node is to close. */
  attached(info: ClientInfo): void;
}

/** What the cluster may do to the core. */
export interface ClusterSeam {
  /** Routes as the broker's own message (a will of a dead node's client); it goes cluster-wide. */
  route(message: RoutedMessage, from: ClientInfo | undefined): number;
  /**
   * Delivers a message from another node to local subscribers only: to the plain subscriptions
   * when `plain`, and to one local member of each of `shares`.
   */
  deliverFromCluster(message: RoutedMessage, plain: boolean, shares: readonly ShareKey[]): void;
  /**
   * Whether local subscribers that messages from other nodes went to are backed up (their
   * queues past half their bounds, until back under a quarter): reading more of them waits.
   */
  clusterBackedUp(): boolean;
  /**
   * The acknowledgement of the message being routed now goes to `hold`, which lets it out later
   * through `holdForCommit`: a publisher is slowed while another node reads too slowly.
   */
  holdAcknowledgement(hold: (flush: () => void) => void): void;
  /** Whether `flush` must wait for what was written before it; then it runs once that is safe. */
  holdForCommit(flush: () => void): boolean;
  /** Sets (or with an empty payload clears) the local copy of a retained message. */
  retainFromCluster(message: RoutedMessage): void;
  /** The retained messages held here, to give back to a Redis that lost them. */
  retainedMessages(): Iterable<RoutedMessage>;
  /**
   * A client with `clientId` and `username` connected to another node: the connection here, if
   * its user is the same, closes as taken over (0x8E for 5.0) and its session here ends.
   */
  takeOverFromCluster(clientId: string, username: string | undefined): void;
}
