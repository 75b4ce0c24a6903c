/**
 * What the broker writes through to durable storage and reads back at start. Memory stays
 * authoritative: the broker appends records as its state changes and the store batches them
 * until {@link Store.commit}, which writes them while the broker goes on: records that arrive
 * meanwhile make the next batch. Nothing here names SQL, so that other back ends can implement it.
 *
 * @module
 */
import type { Properties } from "../protocol/properties.ts";

/** A session's own fields. Deadlines are absolute (ms since the epoch), so downtime counts. */
export interface StoredSession {
  clientId: string;
  username: string | undefined;
  protocolVersion: number;
  /** How long it outlives its connection (ms); `Infinity` for ever. */
  expiryMs: number;
  /** When it expires if it stays disconnected; 0 while connected or never. */
  expiresAt: number;
}

/** A will waiting for its connection to end or its delay to pass. */
export interface StoredWill {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties: Properties | undefined;
  /** When it is due; 0 while its connection lives. */
  dueAt: number;
}

/** A message stored once, whoever holds it. */
export interface StoredMessage {
  id: number;
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties: Properties | undefined;
  /** When it expires (ms since the epoch), or 0. */
  expiresAt: number;
}

/** A subscription as the session holds it (the broker's `SubscriptionOptions`). */
export interface StoredSubscription {
  clientId: string;
  filter: string;
  options: {
    qos: 0 | 1 | 2;
    noLocal: boolean;
    retainAsPublished: boolean;
    retainHandling: 0 | 1 | 2;
    subscriptionId: number | undefined;
    shareGroup: string | undefined;
  };
}

/** One session's reference to a stored message: queued (packet id 0) or in flight. */
export interface StoredDelivery {
  clientId: string;
  /** Orders a session's deliveries: queued ones by when they were queued, in flight by when sent. */
  seq: number;
  messageId: number;
  qos: 1 | 2;
  retain: boolean;
  packetId: number;
  /** QoS 2: PUBREC received, PUBREL sent. */
  released: boolean;
  /** Identifiers of the subscriptions it matched. */
  ids: number[] | undefined;
  /** The shared subscription (`$share/group/filter`) it was given to the session for. */
  share?: string;
}

/**
 * Everything a store holds, as `load()` returns it. The large parts are iterables that a store
 * may read as they are consumed, so that a restart does not hold every row twice: iterate each
 * once, before the next {@link Store.commit}.
 */
export interface StoredState {
  sessions: Iterable<StoredSession>;
  wills: Map<string, StoredWill>;
  subscriptions: Iterable<StoredSubscription>;
  /** In id order. */
  messages: Iterable<StoredMessage>;
  /** Grouped by session, each session's in {@link StoredDelivery.seq} order. */
  deliveries: Iterable<StoredDelivery>;
  /** Topic and message id. */
  retained: Iterable<[string, number]>;
  /** QoS 2 packet ids received from each session's client and not yet released. */
  awaitingRelease: Iterable<{ clientId: string; packetId: number }>;
}

/** A state that holds nothing: what an empty store loads. */
export function emptyState(): StoredState {
  return {
    sessions: [],
    wills: new Map(),
    subscriptions: [],
    messages: [],
    deliveries: [],
    retained: [],
    awaitingRelease: [],
  };
}

/** Counts of what a store holds, for `broker store FILE`. */
export interface StoreSummary {
  sessions: number;
  subscriptions: number;
  messages: number;
  deliveries: number;
  retained: number;
  /** File size in bytes (0 in memory). */
  bytes: number;
}

/** How a store's commits go, for the admin's metrics and readiness. */
export interface StoreFigures {
  /** Commits that wrote their records. */
  commits: number;
  /** Commits that failed (each retry counts); their records stay pending. */
  failedCommits: number;
  /** Records waiting for a commit. */
  pendingRecords: number;
  /** How long the last successful commit took, in ms. */
  lastCommitMs: number;
  /** How long every successful commit took together, in ms. */
  commitMsTotal: number;
  /** The size of the store's files in bytes (0 in memory). */
  bytes: number;
}

/** A durable store's figures and whether its commits fail now. */
export interface StoreHealth {
  figures: StoreFigures;
  /** Commits fail now: acknowledgements wait, and `/readyz` says not ready. */
  failing: boolean;
}

/** Write-through records; each is part of the next {@link Store.commit}. */
export interface Store {
  /** False for the memory store: the broker then skips building records. */
  readonly durable: boolean;
  /**
   * Whether records wait for a commit: recorded since the last one started, or kept from one
   * that failed. Not those of a commit under way.
   */
  readonly pending: boolean;
  /** Group-commit hook: called when a record arrives and none was pending, to schedule a commit. */
  onPending: (() => void) | undefined;
  /**
   * Deliveries recorded since the last commit started that were sent and wait for their
   * acknowledgement, when they are what the commit mostly writes: one acknowledged before the
   * commit spares writing it and deleting it in the next, so the broker lets a commit wait a
   * little while they come. 0 when waiting would spare little (a store that writes them anyway).
   */
  readonly awaitingAck: number;
  /** Created or changed. */
  sessionSaved(session: StoredSession): void;
  /** Ends the session and everything it held (subscriptions, deliveries, will, receive state). */
  sessionEnded(clientId: string): void;
  willSaved(clientId: string, will: StoredWill): void;
  willCleared(clientId: string): void;
  subscriptionAdded(subscription: StoredSubscription): void;
  subscriptionRemoved(clientId: string, filter: string): void;
  /** Stores a message once; deliveries and retained topics refer to it by id. */
  messageStored(message: StoredMessage): void;
  deliveryAdded(delivery: StoredDelivery): void;
  /** Sent (or sent again) with `packetId`; `seq` is its new place in the session's order. */
  deliverySent(clientId: string, oldSeq: number, seq: number, packetId: number): void;
  /** PUBREC received; moves to `seq`. */
  deliveryReleased(clientId: string, oldSeq: number, seq: number): void;
  /** Acknowledged, dropped or taken away; the message goes when nothing refers to it. */
  deliveryRemoved(clientId: string, seq: number, messageId: number): void;
  retainedSet(topic: string, messageId: number): void;
  retainedCleared(topic: string): void;
  receiveAdded(clientId: string, packetId: number): void;
  receiveRemoved(clientId: string, packetId: number): void;
  /** Everything stored, at start. */
  load(): StoredState;
  /**
   * Starts writing the pending records in one transaction; resolves once they are durable.
   * Rejects when they cannot be (a full disk, an I/O error, a removed file), none of them
   * written and all kept, for the next call to write before the records that came since. One
   * commit at a time: call again only once the last one settled.
   */
  commit(): Promise<void>;
  /** Counts of commits and what waits for one, read when asked. */
  figures(): StoreFigures;
  summary(): StoreSummary;
  /** Waits for a commit under way, commits what is pending and closes; rejects if that fails. */
  close(): Promise<void>;
}
