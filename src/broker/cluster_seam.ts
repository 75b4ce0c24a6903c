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
import type { ShareGroup, Subscriber, SubscriptionOptions } from "./subscriptions.ts";
import type { Refusal } from "./context.ts";

/** A shared subscription by its filter (without `$share/{group}/`) and group name. */
export type ShareKey = readonly [filter: string, group: string];

/** A QoS 1/2 message of a session handed from one node to another, queued or in flight. */
export interface HandedDelivery {
  readonly message: RoutedMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  /** 0 while queued. */
  readonly packetId: number;
  /** QoS 2: PUBREC received, PUBREL sent. */
  readonly released: boolean;
  readonly ids: readonly number[] | undefined;
  /** `$share/{group}/{filter}` of the shared subscription it was given for. */
  readonly share: string | undefined;
}

/** A persistent session as one node hands it to another. */
export interface HandedSession {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: number;
  /** Its expiry (Infinity: never); the new CONNECT sets its own. */
  readonly expiryMs: number;
  readonly subscriptions: HandedSubscriptions;
  /** In flight (in resend order), then queued. */
  readonly deliveries: readonly HandedDelivery[];
  /** QoS 2 packet ids received from the client and not yet released. */
  readonly awaitingRelease: readonly number[];
  /**
   * By origin, the last number of a message the session took in (see
   * `RoutedMessage.clusterOrigin`): the new node drops what it took in for the session up to it.
   */
  readonly seen: readonly (readonly [string, number])[];
}

/** What the cluster decided about a CONNECT before it attaches. */
export interface ClaimOutcome {
  /** The CONNECT is refused: another user's session, or a newer CONNECT elsewhere. */
  readonly refusal?: Refusal;
  /** The session another node handed over (or Redis kept for a dead one), to resume here. */
  readonly session?: HandedSession;
}

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
  /**
   * An authenticated CONNECT, before it attaches: takes the client id's lease and, when the
   * client resumes (`resume`) a session another live node holds, asks that node for it; when
   * no live node holds it and it is not here (`held`), reads the copy Redis keeps of it (a dead
   * node's session). Never rejects.
   */
  claim(info: ClientInfo, resume: boolean, held: boolean): Promise<ClaimOutcome>;
  /** The session of `clientId` ended here (not handed over): its lease goes. */
  ended(clientId: string): void;
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
  /**
   * Another node took the lease of `clientId` for `username` and asks for the session: the
   * connection here closes as taken over (0x8E for 5.0), and a session that outlives it leaves
   * this node and is returned. Undefined when there is none here (or it is another user's).
   */
  handOver(clientId: string, username: string | undefined): HandedSession | undefined;
  /**
   * The first step of {@link ClusterSeam.handOver}: the connection here closes as taken over and
   * the subscriptions of a session that outlives it are returned; the session stays, taking in
   * messages, until it is handed over. Undefined when there is none (or it is another user's).
   */
  letGo(clientId: string, username: string | undefined): HandedSubscriptions | undefined;
  /**
   * The session of `info.clientId`, with `subscriptions`, is on its way here: what they match is
   * taken in for it until {@link ClusterBus.claim} settles, and merged into the session if it
   * arrives.
   */
  expect(info: ClientInfo, subscriptions: HandedSubscriptions): void;
}

/** A session's subscriptions by filter, in the order they were made. */
export type HandedSubscriptions = readonly (readonly [string, SubscriptionOptions])[];
