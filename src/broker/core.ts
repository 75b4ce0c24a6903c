/**
 * The broker's machinery: listeners, connections, sessions, routing and retained messages. It
 * sees the network only through a {@link RuntimeAdapter} and plugins only through
 * {@link BrokerHooks}; connections and handlers see it only as a {@link BrokerContext}. The
 * embedder's `Broker` wraps it.
 *
 * @module
 */
import type { ConnectPacket, ProtocolLevel, QoS, Will } from "../protocol/packets.ts";
import type { Properties } from "../protocol/properties.ts";
import { ReasonCode } from "../protocol/reason.ts";
import type { ListenerType, ResolvedConfig, ResolvedListener } from "../config/types.ts";
import type { Connection, HttpHandler, RuntimeAdapter, Server } from "../runtime/types.ts";
import type {
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  DisconnectReason,
} from "../plugins/types.ts";
import { ALLOW } from "../plugins/decision.ts";
import { type BrokerLogger, escapingLogger, type Logger } from "../log.ts";
import { Client } from "./client.ts";
import { refuseWithConnack } from "./refuse.ts";
import type { BrokerContext, BrokerHooks, Refusal } from "./context.ts";
import type {
  ClusterBus,
  ClusterSeam,
  HandedDelivery,
  HandedSession,
  HandedSubscriptions,
  ShareKey,
} from "./cluster_seam.ts";
import { Arriving } from "./arriving.ts";
import { BRIDGE_SESSION_PREFIX, type HeldBridge } from "./bridge_seam.ts";
import { EventHub } from "./events.ts";
import { ExpiryQueue } from "./expiry.ts";
import { RoutedMessage } from "./message.ts";
import { RetainedStore } from "./retained.ts";
import {
  noteSeen,
  type Outgoing,
  queuedOutgoing,
  Session,
  type SessionContext,
} from "./session.ts";
import { newStats, type Stats } from "./stats.ts";
import { sharedFilter } from "../protocol/topic.ts";
import type { Store, StoredState, StoreHealth } from "../store/types.ts";
import { memoryStore } from "../store/memory/memory.ts";
import { ConnectionList } from "./connection_list.ts";
import { Deadlines } from "./deadlines.ts";
import {
  messageFromRecord,
  messageRecord,
  sessionRecord,
  subscriptionRecord,
  willFromRecord,
  willRecord,
} from "./records.ts";
import {
  type ShareGroup,
  type Subscriber,
  type SubscriptionOptions,
  SubscriptionTree,
} from "./subscriptions.ts";

/** A listener as bound. */
export interface BoundListener {
  readonly name: string;
  readonly type: ListenerType;
  readonly tls: boolean;
  readonly hostname: string;
  /** The real port, also when the config said 0. */
  readonly port: number;
}

/** Gauges for `$SYS` and monitoring, read when asked. */
export interface Gauges {
  clientsConnected: number;
  /** Clients connected now, by protocol level (3: MQTT 3.1, 4: 3.1.1, 5: 5.0). */
  clientsByVersion: Record<ProtocolLevel, number>;
  sessionsTotal: number;
  sessionsDisconnected: number;
  inflight: number;
  queued: number;
  retained: number;
  retainedBytes: number;
  subscriptions: number;
  uptimeSeconds: number;
}

/** A user name for log lines; every client without one is the one anonymous identity. */
function identity(info: ClientInfo): string {
  return info.username ? JSON.stringify(info.username) : "anonymous";
}

/** Added to a delivery's QoS in the routing scratch when it keeps the retain flag. */
const RETAIN_FLAG = 4;

/** How often timeouts are checked. */
const SWEEP_MS = 500;

/** A commit longer than this is logged: acknowledgements waited that long for it. */
const SLOW_COMMIT_MS = 100;

/** The first retry of a failed commit waits this long; each further one twice as long as the last. */
const RETRY_MIN_MS = 50;

/** The longest wait between two retries of a failed commit. */
const RETRY_MAX_MS = 5000;

/**
 * Turns a commit waits, whatever comes, for the acknowledgements of deliveries its batch sent
 * (see `Store.awaitingAck`), and the most it waits while they keep coming. A turn is a timer,
 * about a millisecond: the subscribers' PUBACKs are a round trip away, beyond the next poll. In
 * a fan-out to 20 persistent subscribers this writes a fraction of the deliveries (measured: 2
 * to 5 of the 20 per message instead of 16) for a few milliseconds more before the publishers'
 * PUBACKs.
 */
const ACK_WAIT_TURNS = 2;
const ACK_WAIT_MAX_TURNS = 4;

/** Connections over `max-connections` waiting at once for a CONNECT to refuse with CONNACK. */
const MAX_REFUSING = 64;

/** The stats counter of admitted connections for each protocol level. */
const CONNECTIONS_BY_VERSION = {
  3: "connectionsMqtt31",
  4: "connectionsMqtt311",
  5: "connectionsMqtt5",
} as const;

/** The broker's machinery; `createBroker` makes one and wraps it in a `Broker`. */
export class BrokerCore implements BrokerContext, ClusterSeam {
  readonly stats: Stats = newStats();
  readonly #events: EventHub;
  readonly #connections = new ConnectionList<Client>();
  /** The connections' timeouts, a tick being one sweep. */
  readonly deadlines: Deadlines = new Deadlines(SWEEP_MS);
  /**
   * By client id. A connected client is its session's `client`, found through this map: a map
   * of clients beside it cost another entry per connection (130 bytes each on Bun).
   */
  readonly #sessions = new Map<string, Session>();
  /** How many sessions have a client connected. */
  #connected = 0;
  /** By client id: sessions on their way here from another node of the cluster. */
  readonly #arriving = new Map<string, Arriving>();
  readonly #subscriptions = new SubscriptionTree<Subscriber>();
  readonly #retained: RetainedStore;
  /** Disconnected persistent sessions, by when they expire. */
  readonly #expiries = new ExpiryQueue<Session>();
  /** Disconnected sessions whose will waits for its will delay interval, by when it is due. */
  readonly #wills = new ExpiryQueue<Session>();
  /** The bounds already reported in the log: each is logged once per run, the rest counted. */
  readonly #boundsLogged = new Set<string>();
  readonly #perListener = new Map<string, number>();
  /** Connections over `max-connections`, until their refusal is sent. */
  readonly #refusing = new Set<Connection>();
  readonly #servers: { server: Server; listener: BoundListener }[] = [];
  readonly #sessionContext: SessionContext;
  readonly #startedAt = Date.now();
  #sweep: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  #routeMark = 0;
  /** Reused by every routing that is not nested in another one's deliveries. */
  readonly #routeTargets: Subscriber[] = [];
  /** Per target: the QoS, plus {@link RETAIN_FLAG} when it gets the retain flag. */
  readonly #routeLevels: number[] = [];
  readonly #routeIds: (readonly number[] | undefined)[] = [];
  /** Whether a subscription with an identifier matched during the current match. */
  #routeHasIds = false;
  readonly #routeGroups: ShareGroup<Subscriber>[] = [];
  /** The client id of the publisher being routed, for no-local subscriptions. */
  #publisher: string | undefined;
  /** Where {@link BrokerCore.#collect} puts subscribers during the current match. */
  #collecting: Subscriber[] = this.#routeTargets;
  #delivering = false;
  /**
   * Per session, the last delivery still waiting for an async `receive` verdict. Later deliveries
   * to that session wait behind it, whatever their own verdict, so it gets messages in order.
   */
  readonly #receiving = new Map<Subscriber, Promise<void>>();
  #markClosed: () => void = () => {};
  /** Settles once {@link BrokerCore.close} has finished. */
  readonly closed: Promise<void> = new Promise((resolve) => this.#markClosed = resolve);
  #nextId = 0;
  #connectSeq = 0;
  /** What runs beside the broker and routes into it (bridges), stopped first by close(). */
  readonly #companions: (() => Promise<void>)[] = [];

  /** Answers requests on `type: http` listeners; `createBroker` sets the admin endpoints. */
  httpHandler: HttpHandler = () => new Response("not found\n", { status: 404 });

  /** Where state that must survive a restart is written; the memory store keeps nothing. */
  readonly store: Store;
  /** The last store id given to a message. */
  #lastMessageId = 0;
  /** Output held until the records it acknowledges, not handed to a commit yet, are committed. */
  #afterCommit: (() => void)[] = [];
  /** Output held for the commit under way, which holds what it acknowledges. */
  #afterInFlight: (() => void)[] = [];
  #committing = false;
  #commitsStarted = 0;
  /** Turns the next commit waited for acknowledgements, and how many it waited for at the last. */
  #ackWaits = 0;
  #awaitingAck = 0;
  /** Set once close() hands the store its last commit: no other starts. */
  #storeClosing = false;
  #commitTimer: ReturnType<typeof setTimeout> | undefined;
  /** Since when and how often commits failed, while they fail. */
  #failing: { since: number; attempts: number } | undefined;
  /** Set during a routing by a subscriber that is backed up; see `holdAcknowledgement`. */
  #holdNext: ((flush: () => void) => void) | undefined;
  /** The longest commit so far, in ms, for the log and the bench. */
  longestCommitMs = 0;
  /** The other nodes of the cluster, when this broker is one of several. */
  #bus: ClusterBus | undefined;
  /** Set while messages from other nodes are delivered: their subscribers' backlog is noted. */
  #fromCluster = false;
  /** Connected sessions that messages from other nodes left backed up; see `clusterBackedUp`. */
  readonly #backedUp = new Set<Session>();
  /** Bridges that messages from other nodes left backed up, until they let their hold go. */
  #bridgesHolding = 0;

  /** What plugins say; replaced once plugins are loaded. */
  hooks: BrokerHooks = {
    decideAuth: () => ALLOW,
    decideTopic: () => ALLOW,
    checkTopic: () => true,
    startAuthExchange: () => undefined,
    emit: () => {},
    listens: () => false,
  };

  /**
   * Every line of the broker and its plugins goes through here; it escapes control characters
   * (see {@link escapingLogger}).
   */
  readonly logger: BrokerLogger;

  constructor(readonly config: ResolvedConfig, logger: Logger, store: Store = memoryStore()) {
    this.logger = escapingLogger(logger);
    this.store = store;
    store.onPending = () => this.#scheduleCommit();
    this.#events = new EventHub(this.logger);
    const { limits } = config;
    this.#retained = new RetainedStore({
      maxMessages: limits.maxRetainedMessages,
      maxBytes: limits.maxRetainedBytes,
    });
    this.#sessionContext = {
      limits,
      stats: this.stats,
      logger: this.logger,
      mayReceive: (session, message) =>
        this.config.topicCheck.enabled && session.info
          ? this.hooks.checkTopic(session.info, message.topic, "receive")
          : true,
      store,
      storeMessage: (message) => this.#storeMessage(message),
    };
  }

  /** Stores a message once, for a bridge's queue (sessions get this through their context). */
  storeMessage(message: RoutedMessage): number {
    return this.#storeMessage(message);
  }

  #storeMessage(message: RoutedMessage): number {
    if (message.storeId === 0) {
      message.storeId = ++this.#lastMessageId;
      this.store.messageStored(messageRecord(message, message.storeId));
    }
    return message.storeId;
  }

  /**
   * Group commit: the records of one turn of the event loop go in one transaction, after the
   * turn. Routing stays synchronous; only the acknowledgements wait (see `holdOutput`).
   */
  #scheduleCommit(): void {
    if (this.#commitTimer === undefined) {
      this.#commitTimer = setTimeout(this.commit, 0);
    }
  }

  /**
   * Starts writing the pending records; the output that waited for them goes once the store
   * reports them written. Records arriving meanwhile wait for the next commit, which starts as
   * soon as this one ends (group commit). A commit that fails keeps both: nothing is
   * acknowledged that is not on disk. It is retried with backoff, logged once when it starts
   * failing and once when it works again.
   */
  readonly commit = (): void => {
    clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    if (this.#committing || this.#storeClosing || !this.store.pending) return;
    if (this.#waitForAcks()) return;
    this.#committing = true;
    this.#commitsStarted++;
    this.#afterInFlight = this.#afterCommit;
    this.#afterCommit = [];
    const started = performance.now();
    this.store.commit().then(() => {
      this.#committing = false;
      if (this.#failing) this.#commitRecovered();
      const took = performance.now() - started;
      if (took > this.longestCommitMs) {
        this.longestCommitMs = took;
        if (took > SLOW_COMMIT_MS) {
          this.logger.warn(`persistence: a commit took ${Math.round(took)} ms`);
        }
      }
      const waiting = this.#afterInFlight;
      this.#afterInFlight = [];
      for (const flush of waiting) if (!this.#bus?.holdOutput(flush)) flush();
      this.commit();
    }, (error: Error) => {
      this.#committing = false;
      // The store keeps the records: their output waits for the commit that retries them.
      this.#afterCommit = this.#afterInFlight.concat(this.#afterCommit);
      this.#afterInFlight = [];
      this.#commitFailed(error);
    });
  };

  /**
   * Whether the commit waits a turn for the acknowledgements of what its batch sent: the first
   * {@link ACK_WAIT_TURNS} turns, and then while they come, up to {@link ACK_WAIT_MAX_TURNS}. A
   * client that does not acknowledge delays it by the first turns only.
   */
  #waitForAcks(): boolean {
    const awaiting = this.#closing ? 0 : this.store.awaitingAck;
    const waits = this.#ackWaits;
    if (
      awaiting === 0 || waits === ACK_WAIT_MAX_TURNS ||
      (waits >= ACK_WAIT_TURNS && awaiting >= this.#awaitingAck)
    ) {
      this.#ackWaits = 0;
      return false;
    }
    this.#ackWaits = waits + 1;
    this.#awaitingAck = awaiting;
    this.#commitTimer = setTimeout(this.commit, 0);
    return true;
  }

  #commitFailed(error: Error): void {
    const failing = this.#failing ??= { since: Date.now(), attempts: 0 };
    if (failing.attempts++ === 0) {
      this.logger.error(
        `${error.message}; acknowledgements (PUBACK, PUBREC, SUBACK, CONNACK with a session) ` +
          `wait until a commit succeeds, retried with backoff; /readyz is 503 until then`,
      );
    }
    if (this.#closing) return;
    const delay = Math.min(RETRY_MIN_MS * 2 ** (failing.attempts - 1), RETRY_MAX_MS);
    this.#commitTimer = setTimeout(this.commit, delay);
  }

  #commitRecovered(): void {
    const { since, attempts } = this.#failing!;
    this.#failing = undefined;
    const seconds = ((Date.now() - since) / 1000).toFixed(1);
    this.logger.warn(
      `persistence: commits work again after ${attempts} failed attempts over ${seconds} s; ` +
        `the acknowledgements they held go now`,
    );
  }

  /**
   * The durable store's figures (commits, failed commits, pending records, commit times, file
   * size) and whether its commits fail now; undefined without one. For `/metrics` and `/readyz`.
   */
  get storeHealth(): StoreHealth | undefined {
    if (!this.store.durable) return undefined;
    return { figures: this.store.figures(), failing: this.#failing !== undefined };
  }

  /**
   * Whether output must wait for the commit of records written before it: then `flush` runs
   * after that commit. An acknowledgement is a promise that its effect is on disk.
   */
  holdOutput(flush: () => void): boolean {
    const hold = this.#holdNext;
    if (hold) {
      this.#holdNext = undefined;
      hold(flush);
      return true;
    }
    return this.holdForCommit(flush);
  }

  /**
   * Numbers the commit that output held now waits for: the next one while records wait for a
   * commit, else the one under way; 0 when none is. Grows with each commit, so that output
   * held for one commit knows when what follows it needs the next (see `HeldOutput`).
   */
  get pendingCommit(): number {
    if (this.store.pending) return this.#commitsStarted + 1;
    return this.#committing ? this.#commitsStarted : 0;
  }

  /**
   * Whether output must wait for what was written before it: the store's commit, then the
   * cluster's write of the messages routed to other nodes (`holdOutput` without backpressure).
   */
  holdForCommit(flush: () => void): boolean {
    if (this.store.pending) this.#afterCommit.push(flush);
    else if (this.#committing) this.#afterInFlight.push(flush);
    else return this.#bus?.holdOutput(flush) ?? false;
    return true;
  }

  /**
   * Makes this broker a node of a cluster: from now on `bus` hears of every change of the local
   * filters and of every message routed here. Before `restore`, so that restored subscriptions
   * are announced too.
   */
  joinCluster(bus: ClusterBus): void {
    this.#bus = bus;
    this.#subscriptions.onInterest = (filter, group, added) => bus.interest(filter, group, added);
  }

  /** Logs the first refusal at the bound `key` of this run; later ones are only counted. */
  #bounded(key: string, what: string): void {
    if (this.#boundsLogged.has(key)) return;
    this.#boundsLogged.add(key);
    this.logger.warn(`${key} reached: ${what} (logged once; $SYS counts each)`);
  }

  /** The embedder's event listeners. */
  get events(): EventHub {
    return this.#events;
  }

  /** Emits to embedders' listeners and to plugins. */
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void {
    this.#events.emit(event, ...args);
    this.hooks.emit(event, ...args);
  }

  /** Whether an embedder or a plugin listens to `event`. */
  listens(event: BrokerEventName): boolean {
    return this.#events.listens(event) || this.hooks.listens(event);
  }

  /** The listeners as bound. */
  get listeners(): BoundListener[] {
    return this.#servers.map((s) => s.listener);
  }

  /** Whether every configured listener is bound and the broker is not closing (`/readyz`). */
  get ready(): boolean {
    return this.#closing === undefined && this.#servers.length === this.config.listeners.length;
  }

  /** Every session, connected or not (read-only, for the admin API). */
  get sessions(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Connections open now on each MQTT listener, by listener name (read-only, for metrics). */
  get connectionsByListener(): ReadonlyMap<string, number> {
    return this.#perListener;
  }

  /** The clients connected now. */
  get clients(): ClientInfo[] {
    return [...this.#connectedClients()].map((c) => c.info!);
  }

  /** The connected clients, through their sessions. */
  *#connectedClients(): Generator<Client> {
    for (const session of this.#sessions.values()) if (session.client) yield session.client;
  }

  /** Gauges for `$SYS` and monitoring. */
  get gauges(): Gauges {
    let inflight = 0;
    let queued = 0;
    for (const session of this.#sessions.values()) {
      inflight += session.inflightCount;
      queued += session.queue.length;
    }
    const clientsByVersion: Record<ProtocolLevel, number> = { 3: 0, 4: 0, 5: 0 };
    for (const client of this.#connectedClients()) {
      clientsByVersion[client.codec.version || 4]++;
    }
    return {
      clientsConnected: this.#connected,
      clientsByVersion,
      sessionsTotal: this.#sessions.size,
      sessionsDisconnected: this.#sessions.size - this.#connected,
      inflight,
      queued,
      retained: this.#retained.size,
      retainedBytes: this.#retained.bytes,
      subscriptions: this.#subscriptions.size,
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
    };
  }

  /**
   * Rebuilds what the store holds, before the listeners open: retained messages, sessions with
   * their subscriptions, queues, messages in flight (sent again with DUP when their client is
   * back) and QoS 2 receive state, and the deadlines of sessions and wills, which count the time
   * the broker was down. A session connected when the broker stopped lost its connection then:
   * its expiry and will delay start now. Returns what bridges (`$bridge/<name>`, which have no
   * session) held, by client id, for the bridges to take back.
   */
  restore(state: StoredState): Map<string, HeldBridge> {
    const now = Date.now();
    const store = this.store;
    const messages = new Map<number, RoutedMessage>();
    for (const stored of state.messages) {
      messages.set(stored.id, messageFromRecord(stored));
      if (stored.id > this.#lastMessageId) this.#lastMessageId = stored.id;
    }
    for (const [topic, id] of state.retained) {
      const message = messages.get(id);
      if (message && !message.expired && this.#retained.set(message)) continue;
      store.retainedCleared(topic);
    }
    /** Wills of sessions that ended with their connection when the broker died. */
    const ended: [ClientInfo, Will][] = [];
    for (const stored of state.sessions) {
      const info: ClientInfo = {
        clientId: stored.clientId,
        username: stored.username,
        remoteAddr: { hostname: "", port: 0, transport: "tcp" },
        listener: "",
        cleanSession: stored.expiryMs === 0,
        protocolVersion: stored.protocolVersion,
      };
      if (stored.expiryMs === 0) {
        const will = state.wills.get(stored.clientId);
        if (will) ended.push([info, willFromRecord(will)]);
        store.sessionEnded(stored.clientId);
        continue;
      }
      const session = new Session(stored.clientId, stored.expiryMs, this.#sessionContext);
      session.durable = true;
      session.info = info;
      this.#sessions.set(stored.clientId, session);
      if (stored.expiryMs !== Infinity) {
        const at = stored.expiresAt || now + stored.expiryMs;
        this.#expiries.set(session, at);
        if (!stored.expiresAt) store.sessionSaved(sessionRecord(session, at));
      }
      const will = state.wills.get(stored.clientId);
      if (will) {
        // Due 0: its connection ended with the broker, at a moment not known; the delay counts
        // from now, and is written so that another crash keeps it.
        session.will = willFromRecord(will);
        const delay = will.properties?.willDelayInterval ?? 0;
        const at = will.dueAt || now + delay * 1000;
        this.#wills.set(session, at);
        if (!will.dueAt) store.willSaved(stored.clientId, { ...will, dueAt: at });
      }
    }
    for (const { clientId, filter, options } of state.subscriptions) {
      const session = this.#sessions.get(clientId);
      if (!session) continue;
      session.subscriptions.set(filter, options);
      this.#subscriptions.add(sharedFilter(filter)?.filter ?? filter, session, options);
    }
    // A session's deliveries come together: one look-up per session, not per delivery.
    let deliveries = 0;
    let owner = "";
    let session: Session | undefined;
    const bridges = new Map<string, HeldBridge>();
    const heldBy = (clientId: string): HeldBridge | undefined => {
      if (!clientId.startsWith(BRIDGE_SESSION_PREFIX)) return undefined;
      let held = bridges.get(clientId);
      if (!held) bridges.set(clientId, held = { deliveries: [], awaitingRelease: [] });
      return held;
    };
    let bridge: HeldBridge | undefined;
    for (const d of state.deliveries) {
      deliveries++;
      if (d.clientId !== owner) {
        owner = d.clientId;
        session = this.#sessions.get(owner);
        bridge = session ? undefined : heldBy(owner);
      }
      const message = messages.get(d.messageId);
      if (!message) continue;
      if (bridge) bridge.deliveries.push({ delivery: d, message });
      if (session) this.#restoreDelivery(session, d, message, d.seq);
    }
    for (const { clientId, packetId } of state.awaitingRelease) {
      const session = this.#sessions.get(clientId);
      if (session) session.awaitingRelease.add(packetId);
      else heldBy(clientId)?.awaitingRelease.push(packetId);
    }
    // Published once every session is back, so that every subscriber gets them.
    for (const [info, will] of ended) this.#publishWill(info, will);
    this.#expire(now);
    this.stats.retainedExpired += this.#retained.expire(now);
    this.commit();
    this.logger.info(
      `persistence: restored ${this.#sessions.size} sessions, ${this.#retained.size} retained ` +
        `messages, ${deliveries} queued or in flight`,
    );
    return bridges;
  }

  /** Puts a stored or handed-over delivery back into `session`, at `seq` in its order. */
  #restoreDelivery(
    session: Session,
    d: Omit<HandedDelivery, "message" | "share"> & { readonly share?: string },
    message: RoutedMessage,
    seq: number,
  ): void {
    session.restoreDelivery({
      message,
      qos: d.qos,
      retain: d.retain,
      packetId: d.packetId,
      released: d.released,
      ids: d.ids,
      group: d.share === undefined ? undefined : this.#shareGroup(d.share),
      seq,
    });
  }

  /** The shared subscription named by a `$share/group/filter`, if it has members. */
  #shareGroup(filter: string): ShareGroup<Subscriber> | undefined {
    const shared = sharedFilter(filter);
    return shared && this.#subscriptions.group(shared.filter, shared.group);
  }

  /** Binds every configured listener; on failure unbinds what was bound and rethrows. */
  async listen(adapter: RuntimeAdapter): Promise<void> {
    try {
      for (const listener of this.config.listeners) {
        const { hostname, port, tls, type } = listener;
        const server = await (type === "http"
          ? adapter.serve({ hostname, port, tls, handler: this.httpHandler })
          : adapter.listen({
            hostname,
            port,
            type,
            tls,
            // A stalled TLS handshake is an idle connection like one that sends no CONNECT.
            handshakeTimeoutMs: this.config.limits.connectTimeoutMs,
            onConnection: (conn) =>
              this.#accept(conn, listener),
            onHandshakeError: (peer, reason) =>
              this.logger.info(
                `listener ${listener.name}: TLS handshake with ${peer.hostname}:${peer.port} failed: ${reason}`,
              ),
          })).catch((error: Error) => {
            throw new Error(`listener ${listener.name}: ${error.message}`);
          });
        const bound: BoundListener = {
          name: listener.name,
          type: listener.type,
          tls: listener.tls !== undefined,
          hostname: server.hostname,
          port: server.port,
        };
        this.#servers.push({ server, listener: bound });
        const scheme = (type === "tcp" ? "mqtt" : type) + (tls ? "s" : "");
        const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
        this.logger.info(`listener ${listener.name} ready on ${scheme}://${host}:${server.port}`);
      }
    } catch (error) {
      await this.#unbind();
      throw error;
    }
    this.#sweep = setInterval(() => {
      const now = Date.now();
      this.deadlines.run(now);
      this.#expire(now);
      this.stats.retainedExpired += this.#retained.expire(now);
    }, SWEEP_MS);
  }

  #accept(conn: Connection, listener: ResolvedListener): void {
    if (this.#closing) {
      conn.close();
      return;
    }
    const open = this.#perListener.get(listener.name) ?? 0;
    if (listener.maxConnections > 0 && open >= listener.maxConnections) {
      this.stats.connectionsRefused++;
      const { hostname, port } = conn.remoteAddr;
      this.logger.warn(
        `listener ${listener.name}: refused ${hostname}:${port}, max-connections ${listener.maxConnections} reached`,
      );
      // Each refusal waits for a CONNECT to answer; past a few at once they are only closed, so
      // a flood cannot hold more sockets than the limit meant to allow.
      if (this.#refusing.size >= MAX_REFUSING) {
        conn.close();
        return;
      }
      this.#refusing.add(conn);
      refuseWithConnack(conn, this.config.limits.connectTimeoutMs)
        .finally(() => this.#refusing.delete(conn));
      return;
    }
    this.#perListener.set(listener.name, open + 1);
    const client = new Client(this, conn, listener.name);
    this.#connections.add(client);
  }

  /** A fresh client id for a client that sent an empty one. */
  newClientId(): string {
    let id: string;
    do id = `auto-${Date.now().toString(36)}-${(this.#nextId++).toString(36)}`; while (
      this.#sessions.has(id)
    );
    return id;
  }

  /** Stamps a CONNECT as it arrives: later CONNECTs get higher numbers. */
  connectSequence(): number {
    return ++this.#connectSeq;
  }

  /**
   * Before `attach`, in a cluster only: the client id's lease, and the session another node
   * hands over (or Redis kept for a dead node) when the client resumes one (it waits here,
   * disconnected, for `attach`).
   * Undefined when alone: the CONNECT attaches at once.
   */
  claim(
    info: ClientInfo,
    packet: ConnectPacket,
  ): Promise<Refusal | undefined> | undefined {
    const bus = this.#bus;
    if (!bus) return undefined;
    const held = this.#sessions.has(info.clientId);
    return bus.claim(info, !packet.cleanSession, held).then(({ refusal, session }) => {
      if (session) this.#adopt(session);
      this.#arrived(info.clientId);
      return refusal;
    });
  }

  /** Puts a session handed over by another node here, disconnected, as `restore` would. */
  #adopt(handed: HandedSession): void {
    const id = handed.clientId;
    const stale = this.#sessions.get(id);
    // Left from a time this node held the lease: the handed one is newer.
    if (stale) {
      stale.client?.close("takeover", "its session was handed over by another node");
      if (this.#sessions.get(id) === stale) this.#endSession(stale, true);
    }
    const session = new Session(id, handed.expiryMs, this.#sessionContext);
    session.info = {
      clientId: id,
      username: handed.username,
      remoteAddr: { hostname: "", port: 0, transport: "tcp" },
      listener: "",
      cleanSession: false,
      protocolVersion: handed.protocolVersion,
    };
    this.#sessions.set(id, session);
    for (const [filter, options] of handed.subscriptions) {
      session.subscriptions.set(filter, options);
      this.#subscriptions.add(sharedFilter(filter)?.filter ?? filter, session, options);
    }
    for (const d of handed.deliveries) this.#restoreDelivery(session, d, d.message, 0);
    const seen = new Map(handed.seen);
    session.clusterSeen = seen;
    // What was taken in for it here while it was on its way, but for what the old node had: each
    // origin's messages reached it in order, up to the last one it saw. A message for a shared
    // subscription went to one node only, so it is never had twice.
    for (const { message, qos, retain, ids, group } of this.#arriving.get(id)?.taken ?? []) {
      const origin = message.clusterOrigin;
      if (
        !group && origin !== undefined && message.clusterSeq <= (seen.get(origin) ?? 0)
      ) continue;
      session.restoreDelivery(queuedOutgoing(message, qos, retain, ids, group));
    }
    for (const packetId of handed.awaitingRelease) session.awaitingRelease.add(packetId);
    // Its client may have gone while it was on its way: it waits as any disconnected session.
    if (handed.expiryMs !== Infinity) {
      this.#expiries.set(session, Date.now() + handed.expiryMs);
    }
    this.#saveSession(session);
  }

  /**
   * CONNECT authenticated: unless the client id belongs to someone else or a newer CONNECT holds
   * it, take over, find or create the session, answer CONNACK.
   */
  attach(
    client: Client,
    info: ClientInfo,
    packet: ConnectPacket,
    connack: Properties,
    expiryMs: number,
  ): Refusal | undefined {
    const id = info.clientId;
    let session = this.#sessions.get(id);
    const current = session?.client;
    // A session is its creator's until it ends, whatever clean-session the newcomer asks for:
    // a clean start would wipe it as surely as a resume would read it.
    if (session?.info && (session.info.username || "") !== (info.username || "")) {
      return {
        code: ReasonCode.NOT_AUTHORIZED,
        why: `client id ${id} belongs to ${identity(session.info)}, not ${identity(info)}`,
      };
    }
    // A CONNECT whose authentication outlasted a later one's lost the race: taking over now would
    // close the newer connection. It gets "server busy" (3.1.1: 3, server unavailable), a
    // transient refusal that says nothing is wrong with its credentials or its client id; if it
    // retries, that is an ordinary takeover.
    // The session remembers its last CONNECT, so the race is lost also when that one has left.
    const newest = Math.max(current?.connectSeq ?? 0, session?.connectSeq ?? 0);
    if (newest > client.connectSeq) {
      return {
        code: ReasonCode.SERVER_BUSY,
        why: `a newer connection with client id ${id} was admitted first`,
        reason: "a newer connection with this client id was admitted first",
      };
    }
    const full = this.#refuseNewSession(id);
    if (full) return full;
    if (current) {
      current.close("takeover", "another connection took over its client id");
      // Closing it ended its session if that was a clean one.
      session = this.#sessions.get(id);
    }
    if (session && packet.cleanSession) {
      this.#endSession(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (!session) {
      session = new Session(id, expiryMs, this.#sessionContext);
      this.#sessions.set(id, session);
    }
    session.client = client;
    session.info = info;
    session.connectSeq = client.connectSeq;
    session.expiryMs = expiryMs;
    // A new connection to the session before its will delay is up: that will is never sent
    // (MQTT 5.0 3.1.3.2.2, [MQTT-3.1.3-9]; 3.1.2.5).
    this.#wills.delete(session);
    session.will = packet.will;
    this.#bus?.will(id, info, packet.will, 0);
    this.#saveSession(session);
    client.session = session;
    client.info = info;
    // The keepalive counts from admission: a slow authentication is not the client's silence.
    client.lastRead = Date.now();
    this.stats.clientsMaximum = Math.max(this.stats.clientsMaximum, ++this.#connected);
    this.stats[CONNECTIONS_BY_VERSION[client.codec.version || 4]]++;
    client.send(client.codec.connack(ReasonCode.SUCCESS, present, connack)!);
    this.#bus?.attached(info);
    // In flight before anything new: a listener below may publish to this very session.
    if (present) session.resend();
    if (this.logger.debugEnabled) {
      this.logger.debug(`connected ${client.label}${present ? " (session resumed)" : ""}`);
    }
    this.emit("broker_client_connected", info);
    return undefined;
  }

  /**
   * Writes a session as it is now, if the store keeps it: a session that outlives its connection
   * is durable; one that no longer does leaves the store (it ends with its connection).
   */
  #saveSession(session: Session): void {
    const store = this.store;
    if (!store.durable) return;
    const durable = session.expiryMs > 0;
    if (!durable) {
      if (session.durable) store.sessionEnded(session.clientId);
      session.durable = false;
      // A session that ends with its connection keeps only its will in the store, so that
      // a broker that dies under it still publishes the will after the restart.
      if (session.will && session.client) {
        store.sessionSaved(sessionRecord(session, 0));
        store.willSaved(session.clientId, willRecord(session.will, 0));
        session.willStored = true;
      }
      return;
    }
    session.willStored = false;
    if (!session.durable) {
      // What it held so far was never written (or comes from another node): it is now.
      session.durable = true;
      this.#storeSessionState(session);
    }
    const connected = session.client !== undefined;
    const expiresAt = connected || session.expiryMs === Infinity
      ? 0
      : Date.now() + session.expiryMs;
    store.sessionSaved(sessionRecord(session, expiresAt));
    const will = session.will;
    if (!will) store.willCleared(session.clientId);
    else {
      const delay = will.properties?.willDelayInterval ?? 0;
      store.willSaved(
        session.clientId,
        willRecord(will, connected ? 0 : Date.now() + delay * 1000),
      );
    }
  }

  /** Writes what a session that just became durable already holds. */
  #storeSessionState(session: Session): void {
    const store = this.store;
    for (const [filter, options] of session.subscriptions) {
      store.subscriptionAdded(subscriptionRecord(session.clientId, filter, options));
    }
    for (const packetId of session.awaitingRelease) store.receiveAdded(session.clientId, packetId);
    session.storeDeliveries();
  }

  /**
   * Refuses a CONNECT that needs a new session when `max-sessions` are there already (taking
   * over or resuming an existing one needs none, and clean-session ends the old one first).
   */
  #refuseNewSession(id: string): Refusal | undefined {
    const max = this.config.limits.maxSessions;
    if (max === 0 || this.#sessions.size < max || this.#sessions.has(id)) return undefined;
    this.stats.sessionsRefused++;
    this.#bounded(
      "max-sessions",
      "CONNECTs of new client ids get CONNACK 0x97, quota exceeded (3.1.1: 3)",
    );
    const code = ReasonCode.QUOTA_EXCEEDED;
    return {
      code,
      why: `max-sessions ${max} reached`,
      reason: "too many sessions",
    };
  }

  /** Publishes the delayed wills that are due and ends the sessions whose expiry has come. */
  #expire(now: number): void {
    let session: Session | undefined;
    while ((session = this.#wills.pop(now))) {
      const will = session.will;
      session.will = undefined;
      if (session.durable) this.store.willCleared(session.clientId);
      this.#bus?.will(session.clientId, undefined, undefined, 0);
      if (will && !session.client && session.info) this.#publishWill(session.info, will);
    }
    while ((session = this.#expiries.pop(now))) {
      // A session resumed since keeps its deadline only until it next disconnects.
      if (session.client || this.#sessions.get(session.clientId) !== session) continue;
      this.stats.sessionsExpired++;
      this.logger.debug(`session ${session.clientId} expired`);
      this.#endSession(session);
    }
  }

  /** The connection ended: will, session, bookkeeping. */
  detach(client: Client, reason: DisconnectReason): void {
    if (this.#connections.delete(client)) {
      const open = this.#perListener.get(client.listener) ?? 1;
      this.#perListener.set(client.listener, open - 1);
    }
    const session = client.session;
    if (!session || !client.info) return;
    if (session.client === client) {
      session.client = undefined;
      this.#connected--;
      this.#willAfter(session, reason);
    }
    if (!session.client && this.#sessions.get(session.clientId) === session) {
      if (session.expiryMs === 0) this.#endSession(session);
      else {
        if (session.expiryMs !== Infinity) {
          this.#expiries.set(session, Date.now() + session.expiryMs);
        }
        this.#saveSession(session);
      }
    }
    if (this.logger.debugEnabled) this.logger.debug(`disconnected ${client.label}: ${reason}`);
    this.emit("broker_client_disconnected", client.info, reason, client.disconnectDetails);
  }

  /**
   * The connection of `session` is gone: its will (a DISCONNECT without a will reason has
   * already cleared it) is published now, or once its 5.0 will delay interval is up unless a
   * new connection to the session comes first, or when the session ends if that is sooner
   * (MQTT 5.0 3.1.2.5, 3.1.3.2.2). A shutdown publishes none.
   */
  #willAfter(session: Session, reason: DisconnectReason): void {
    const will = session.will;
    const delay = will?.properties?.willDelayInterval ?? 0;
    const dueAt = will && reason !== "shutdown" && delay > 0 ? Date.now() + delay * 1000 : 0;
    // Another node publishes what is still due here if this one dies.
    this.#bus?.will(session.clientId, session.info, dueAt ? will : undefined, dueAt);
    if (!will) return;
    if (dueAt) {
      this.#wills.set(session, dueAt);
      return;
    }
    session.will = undefined;
    if (reason !== "shutdown" && session.info) this.#publishWill(session.info, will);
  }

  #publishWill(info: ClientInfo, will: NonNullable<Session["will"]>): void {
    const route = (allowed: boolean) => {
      if (allowed) {
        const { topic, payload, qos, retain, properties } = will;
        this.route(new RoutedMessage(topic, payload, qos, retain, properties), info);
      }
    };
    if (will.topic === "$SYS" || will.topic.startsWith("$SYS/")) return;
    const verdict = this.hooks.checkTopic(info, will.topic, "publish");
    if (typeof verdict === "boolean") route(verdict);
    else verdict.then(route);
  }

  /**
   * Ends a session here. `handedOver`: it goes on on another node, which has its will (a new
   * connection cancelled the old one's), its lease and its shared messages.
   */
  #endSession(session: Session, handedOver = false): void {
    // A will still waiting for its delay goes now: the session ends first (3.1.3.2.2).
    this.#wills.delete(session);
    const will = session.will;
    if (will) this.#bus?.will(session.clientId, undefined, undefined, 0);
    if (will && !handedOver && !session.client && session.info) {
      this.#publishWill(session.info, will);
    }
    if (session.subscriptionCount > 0) {
      for (const filter of session.subscriptions.keys()) this.#unsubscribeTree(filter, session);
      session.subscriptions.clear();
    }
    if (!handedOver) {
      if (session.queue.length > 0 || session.inflightCount > 0) {
        this.#redeliver(session.takeShared(true), session);
      }
      this.#bus?.ended(session.clientId);
    }
    session.clear();
    this.#expiries.delete(session);
    this.#sessions.delete(session.clientId);
    if (session.durable || session.willStored) this.store.sessionEnded(session.clientId);
    session.durable = false;
    session.willStored = false;
  }

  /**
   * Adds or replaces a subscription of a connected client's session; returns false, adding
   * nothing, when a new one would exceed `max-subscriptions-per-session`.
   */
  subscribe(client: Client, filter: string, options: SubscriptionOptions): boolean {
    const session = client.session!;
    const max = this.config.limits.maxSubscriptionsPerSession;
    if (max > 0 && session.subscriptions.size >= max && !session.subscriptions.has(filter)) {
      this.stats.subscriptionsRefused++;
      this.#bounded(
        "max-subscriptions-per-session",
        "further topic filters get 0x97 (3.1.1: 0x80) in SUBACK",
      );
      return false;
    }
    session.subscriptions.set(filter, options);
    this.#subscriptions.add(sharedFilter(filter)?.filter ?? filter, session, options);
    if (session.durable) {
      this.store.subscriptionAdded(subscriptionRecord(session.clientId, filter, options));
    }
    this.emit("broker_client_subscribed", client.info!, filter, options.qos);
    return true;
  }

  /** Removes a subscription; returns whether the session had it. */
  unsubscribe(client: Client, filter: string): boolean {
    const session = client.session!;
    if (!session.subscriptions.delete(filter)) return false;
    if (session.durable) this.store.subscriptionRemoved(session.clientId, filter);
    session.cancelRetained(filter);
    const group = this.#unsubscribeTree(filter, session);
    // Its share of the group's messages not sent yet goes to the others; what is in flight
    // completes here, as MQTT 5.0 3.10.4 lets it.
    if (group) this.#redeliver(session.takeShared(false, group), session);
    this.emit("broker_client_unsubscribed", client.info!, filter);
    return true;
  }

  /**
   * Removes `filter` (plain or `$share/`) of `subscriber` from the trie; returns the shared
   * subscription it belonged to, if any.
   */
  #unsubscribeTree(filter: string, subscriber: Subscriber): ShareGroup<Subscriber> | undefined {
    const shared = sharedFilter(filter);
    if (!shared) {
      this.#subscriptions.remove(filter, subscriber);
      return undefined;
    }
    const group = this.#subscriptions.group(shared.filter, shared.group);
    this.#subscriptions.remove(shared.filter, subscriber, shared.group);
    return group;
  }

  /**
   * Gives messages of shared subscriptions that `from` took out (it left the group or its
   * session ended) to other members of their groups, each at the QoS and with the identifier of
   * the new member's subscription. With no member left able to take one, it is dropped, counted.
   */
  #redeliver(taken: Outgoing[], from: Subscriber): void {
    for (const { message, group } of taken) {
      const member = group!.pick((s, o) => s.room(o.qos < message.qos ? o.qos : message.qos), from);
      if (!member) {
        this.stats.sharedDropped++;
        continue;
      }
      this.stats.sharedRedelivered++;
      this.#deliverShared(group!, member.subscriber, member.options, message);
    }
  }

  #deliverShared(
    group: ShareGroup<Subscriber>,
    member: Subscriber,
    options: SubscriptionOptions,
    message: RoutedMessage,
  ): void {
    const qos = options.qos < message.qos ? options.qos : message.qos;
    const retain = options.retainAsPublished && message.retain;
    const id = options.subscriptionId;
    this.#deliver(member, message, qos, retain, id === undefined ? undefined : [id], group);
    if (this.#fromCluster) this.#noteBacklog(member);
  }

  /**
   * Sends the retained messages matching a new subscription, with retain set, as fast as the
   * client takes them; each carries the subscription's identifier, if it has one.
   */
  sendRetained(client: Client, filter: string, options: SubscriptionOptions): void {
    const id = options.subscriptionId;
    client.session!.sendRetained(
      filter,
      options.qos,
      this.#retained.matching(filter),
      id === undefined ? undefined : [id],
    );
  }

  /**
   * Subscribes an embedder's subscriber, as a QoS 2 subscription with the 3.1.1 options; it gets
   * the retained messages matching `filter` at once, before this returns. Returns the remover.
   */
  subscribeLocal(filter: string, subscriber: Subscriber, options: SubscriptionOptions): () => void {
    this.#subscriptions.add(filter, subscriber, options);
    const entries = this.#retained.matching(filter);
    for (let step = entries.next(); !step.done; step = entries.next()) {
      const message = step.value.message;
      if (message) subscriber.deliver(message, message.qos, true);
    }
    return () => {
      this.#subscriptions.remove(filter, subscriber);
    };
  }

  /**
   * Delivers, asking the topic plugins about `receive` first when topic checks are on (a plugin
   * may narrow what a subscription granted, e.g. after a reload). An async answer delivers late,
   * and so does every later message to the same session until it is given: synchronous answers
   * stay synchronous only while none is pending for that session.
   */
  #deliver(
    session: Subscriber,
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    ids: readonly number[] | undefined,
    group?: ShareGroup<Subscriber>,
  ): void {
    if (this.config.topicCheck.enabled && session.info) {
      const verdict = this.hooks.checkTopic(session.info, message.topic, "receive");
      const before = this.#receiving.size === 0 ? undefined : this.#receiving.get(session);
      if (before === undefined) {
        if (verdict === false) return;
        if (verdict === true) return session.deliver(message, qos, retain, ids, group);
      }
      const done = Promise.all([verdict, before]).then(([allowed]) => {
        if (allowed) session.deliver(message, qos, retain, ids, group);
        if (this.#receiving.get(session) === done) this.#receiving.delete(session);
      });
      this.#receiving.set(session, done);
      return;
    }
    session.deliver(message, qos, retain, ids, group);
  }

  /**
   * Collects each matching subscriber once, combining its matching subscriptions (MQTT 5.0
   * 3.3.4 lets the server send one message for them all): the highest QoS, retain as published
   * if any of them has it, and every identifier. A no-local subscription of the publisher's own
   * session does not match its messages at all (3.8.3.1), so it adds nothing, while another of
   * its subscriptions without no-local still delivers.
   */
  #collect = (subscriber: Subscriber, options: SubscriptionOptions): void => {
    if (
      options.noLocal && this.#publisher !== undefined &&
      subscriber.info?.clientId === this.#publisher
    ) return;
    const qos = options.qos;
    const id = options.subscriptionId;
    if (subscriber.routeMark !== this.#routeMark) {
      subscriber.routeMark = this.#routeMark;
      subscriber.routeQos = qos;
      subscriber.routeRetain = options.retainAsPublished;
      if (id === undefined) subscriber.routeIds = undefined;
      else {
        subscriber.routeIds = [id];
        this.#routeHasIds = true;
      }
      this.#collecting.push(subscriber);
      return;
    }
    if (qos > subscriber.routeQos) subscriber.routeQos = qos;
    if (options.retainAsPublished) subscriber.routeRetain = true;
    if (id !== undefined) {
      if (subscriber.routeIds) subscriber.routeIds.push(id);
      else subscriber.routeIds = [id];
    }
  };

  /** Where {@link BrokerCore.#collectGroup} puts shared subscriptions during the current match. */
  #collectingGroups: ShareGroup<Subscriber>[] = this.#routeGroups;
  #collectGroup = (group: ShareGroup<Subscriber>): void => {
    this.#collectingGroups.push(group);
  };

  /**
   * Backpressure from a subscriber that cannot keep up (a bridge draining its queue): the
   * acknowledgement of the message being routed now goes to `hold`, which lets it out later
   * (through `holdForCommit`, so that it still waits for its commit). A publisher that gets no
   * acknowledgements stops at its in-flight limit.
   */
  holdAcknowledgement(hold: (flush: () => void) => void): void {
    const before = this.#holdNext;
    // Only for an acknowledgement sent in this turn, as a client's is: no later stranger's.
    if (!before) queueMicrotask(() => this.#holdNext = undefined);
    // Two that hold (a bridge and the cluster): the acknowledgement waits for both.
    this.#holdNext = before ? (flush) => before(() => hold(flush)) : hold;
  }

  /**
   * Stores (if retained) and delivers a message to every matching subscriber; returns how many
   * matched.
   */
  route(message: RoutedMessage, from: ClientInfo | undefined, fromCluster = false): number {
    // A QoS 0 message has no acknowledgement to hold, and another client's must not be held.
    this.#holdNext = undefined;
    // Another node routed it first: it stored the retained copy and sent it to the other nodes.
    if (message.retain && !fromCluster) this.#retain(message);
    // A plugin asked during delivery may publish: such a nested routing gets arrays of its own,
    // and every QoS is fixed before the first delivery because nesting reuses `routeQos`.
    const nested = this.#delivering;
    const targets = nested ? [] : this.#routeTargets;
    const levels = nested ? [] : this.#routeLevels;
    const groups = nested ? [] : this.#routeGroups;
    this.#routeMark++;
    this.#collecting = targets;
    this.#collectingGroups = groups;
    this.#publisher = from?.clientId;
    this.#routeHasIds = false;
    this.#subscriptions.match(message.topic, this.#collect, this.#collectGroup);
    // Identifiers are rare: without them no list is filled.
    const ids = this.#routeHasIds ? (nested ? [] : this.#routeIds) : undefined;
    const qos = message.qos;
    const retain = message.retain;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      const granted = target.routeQos;
      levels[i] = (granted < qos ? granted : qos) +
        (retain && target.routeRetain ? RETAIN_FLAG : 0);
      if (ids) ids[i] = target.routeIds;
    }
    this.#delivering = true;
    let matched = 0;
    try {
      for (let i = 0; i < targets.length; i++) {
        const level = levels[i];
        this.#deliver(
          targets[i],
          message,
          (level & 3) as QoS,
          level >= RETAIN_FLAG,
          ids ? ids[i] : undefined,
        );
        if (fromCluster) this.#noteBacklog(targets[i]);
      }
      // A shared subscription whose members cannot take the message still matched it.
      matched = targets.length + groups.length;
      // The node that routed it first chose the members of its shared subscriptions.
      if (fromCluster) groups.length = 0;
      else if (this.#bus) matched += this.#bus.routed(message, groups);
      this.#routeShared(groups, message);
    } finally {
      this.#delivering = nested;
      targets.length = 0;
      levels.length = 0;
      if (ids) ids.length = 0;
      if (groups.length > 0) groups.length = 0;
    }
    if (matched === 0 && from) this.stats.droppedNoSubscribers++;
    if (!fromCluster && this.listens("broker_message_received")) {
      this.emit("broker_message_received", from, message);
    }
    return matched;
  }

  /**
   * Gives the message to one member of each shared subscription: the next one round-robin that
   * can take it now, else one that can queue it (MQTT 5.0 4.8.2).
   */
  #routeShared(groups: ShareGroup<Subscriber>[], message: RoutedMessage): void {
    const qos = message.qos;
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      const member = group.pick((s, o) => s.room(o.qos < qos ? o.qos : qos));
      if (!member) {
        this.stats.sharedDropped++;
        continue;
      }
      this.#deliverShared(group, member.subscriber, member.options, message);
    }
  }

  /**
   * Delivers a message another node routed, to local subscribers only: the plain subscriptions
   * when `plain`, and one local member of each of `shares` (the other node chose this one).
   */
  deliverFromCluster(message: RoutedMessage, plain: boolean, shares: readonly ShareKey[]): void {
    this.#fromCluster = true;
    try {
      if (plain) this.route(message, undefined, true);
      for (const [filter, name] of shares) {
        const group = this.#subscriptions.group(filter, name);
        if (group) this.#routeShared([group], message);
        else this.stats.sharedDropped++;
      }
    } finally {
      this.#fromCluster = false;
    }
    // A bridge that is backed up holds the acknowledgement of what it got: there is none to
    // hold here, so the reading of other nodes' messages waits for it instead.
    const hold = this.#holdNext;
    if (hold) {
      this.#holdNext = undefined;
      this.#bridgesHolding++;
      hold(() => this.#bridgesHolding--);
    }
  }

  /**
   * Whether local subscribers that messages from other nodes went to are backed up: a connected
   * session whose queue went past half its bound (`max-queued-messages`, `max-queued-bytes`),
   * until it is back under a quarter, or a bridge that holds acknowledgements. The cluster then
   * stops reading them, so that they wait in Redis rather than drop here.
   */
  clusterBackedUp(): boolean {
    if (this.#backedUp.size > 0) {
      const { maxQueuedMessages, maxQueuedBytes } = this.config.limits;
      for (const session of this.#backedUp) {
        if (
          !session.client ||
          (session.queue.length <= maxQueuedMessages / 4 &&
            (maxQueuedBytes === 0 || session.queuedBytes <= maxQueuedBytes / 4))
        ) this.#backedUp.delete(session);
      }
    }
    return this.#backedUp.size > 0 || this.#bridgesHolding > 0;
  }

  /** Notes a connected session that a message from another node left past half its bounds. */
  #noteBacklog(subscriber: Subscriber): void {
    if (!(subscriber instanceof Session) || !subscriber.client) return;
    const { maxQueuedMessages, maxQueuedBytes } = this.config.limits;
    // With no queue at all there is nothing to keep from overflowing.
    if (maxQueuedMessages === 0) return;
    if (
      subscriber.queue.length >= maxQueuedMessages / 2 ||
      (maxQueuedBytes > 0 && subscriber.queuedBytes >= maxQueuedBytes / 2)
    ) this.#backedUp.add(subscriber);
  }

  /** Sets (or with an empty payload clears) the local copy of a retained message. */
  retainFromCluster(message: RoutedMessage): void {
    this.#retain(message);
  }

  /** The retained messages held here (`$` topics aside), to give back to a Redis that lost them. */
  *retainedMessages(): Generator<RoutedMessage> {
    const entries = this.#retained.matching("#");
    for (let step = entries.next(); !step.done; step = entries.next()) {
      const message = step.value.message;
      if (message && !message.topic.startsWith("$")) yield message;
    }
  }

  /**
   * A client with `clientId` connected to another node: the connection here closes as taken
   * over and the session here ends, unless it belongs to another user (then both stay: only a
   * lease in Redis could refuse the newcomer, see the README).
   */
  takeOverFromCluster(clientId: string, username: string | undefined): void {
    const session = this.#sessions.get(clientId);
    if (!session || (session.info?.username || "") !== (username || "")) return;
    session.client?.close("takeover", "a connection to another node took over");
    const left = this.#sessions.get(clientId);
    if (left) this.#endSession(left);
  }

  /** See {@link ClusterSeam.letGo}. */
  letGo(clientId: string, username: string | undefined): HandedSubscriptions | undefined {
    return this.#closeForHandOver(clientId, username) && [
      ...this.#sessions.get(clientId)!.subscriptions,
    ];
  }

  /** See {@link ClusterSeam.expect}. */
  expect(info: ClientInfo, subscriptions: HandedSubscriptions): void {
    this.#arrived(info.clientId);
    const arriving = new Arriving(
      info,
      subscriptions,
      this.config.limits,
      () => this.stats.droppedQueued++,
    );
    this.#arriving.set(info.clientId, arriving);
    for (const [filter, options] of subscriptions) {
      this.#subscriptions.add(sharedFilter(filter)?.filter ?? filter, arriving, options);
    }
  }

  /** The session expected here arrived (then it has its own subscriptions), or is not coming. */
  #arrived(clientId: string): void {
    const arriving = this.#arriving.get(clientId);
    if (!arriving) return;
    this.#arriving.delete(clientId);
    for (const [filter] of arriving.subscriptions) this.#unsubscribeTree(filter, arriving);
  }

  /** The session of `clientId`, if `username`'s and outliving its connection, which closes. */
  #closeForHandOver(clientId: string, username: string | undefined): Session | undefined {
    const session = this.#sessions.get(clientId);
    if (!session || (session.info?.username || "") !== (username || "")) return undefined;
    session.client?.close("takeover", "a connection to another node took over");
    // Closing it ended its session if that was a clean one.
    return this.#sessions.get(clientId) === session ? session : undefined;
  }

  handOver(clientId: string, username: string | undefined): HandedSession | undefined {
    const session = this.#closeForHandOver(clientId, username);
    if (!session) return undefined;
    const deliveries: HandedDelivery[] = [];
    const seen = new Map(session.clusterSeen);
    const add = (o: Outgoing) => {
      noteSeen(seen, o.message);
      deliveries.push({
        message: o.message,
        qos: o.qos,
        retain: o.retain,
        packetId: o.packetId,
        released: o.released,
        ids: o.ids,
        share: o.group && `$share/${o.group.name}/${o.group.filter}`,
      });
    };
    for (const outgoing of session.inflight.values()) add(outgoing);
    for (const outgoing of session.queue) add(outgoing);
    const handed: HandedSession = {
      clientId,
      username: session.info?.username,
      protocolVersion: session.info?.protocolVersion ?? 4,
      expiryMs: session.expiryMs,
      subscriptions: [...session.subscriptions],
      deliveries,
      awaitingRelease: [...session.awaitingRelease],
      seen: [...seen],
    };
    this.#endSession(session, true);
    this.logger.debug(`session ${clientId} handed over to another node`);
    return handed;
  }

  #retain(message: RoutedMessage): void {
    const stored = this.#retained.set(message);
    if (!stored) this.#retainedDropped();
    // `$SYS` is the state of this run, published again after a restart: not worth a write.
    if (!this.store.durable || message.topic.startsWith("$SYS/")) return;
    if (stored && message.payload.length > 0) {
      this.store.retainedSet(message.topic, this.#storeMessage(message));
    } else this.store.retainedCleared(message.topic);
  }

  #retainedDropped(): void {
    this.stats.retainedDropped++;
    // A refused replacement deleted its topic's message, so a full count means a new topic met it.
    const max = this.config.limits.maxRetainedMessages;
    this.#bounded(
      max > 0 && this.#retained.size >= max ? "max-retained-messages" : "max-retained-bytes",
      "further retained messages are delivered but not stored",
    );
  }

  /**
   * Registers `stop` to run at the start of {@link BrokerCore.close}, before listeners and
   * clients go: the seam for parts that live beside the broker, such as bridges.
   */
  onClose(stop: () => Promise<void>): void {
    this.#companions.push(stop);
  }

  /** Re-reads plugin files such as the password file. */
  async reload(): Promise<void> {
    await this.hooks.reload?.();
  }

  async #unbind(): Promise<void> {
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map(({ server }) => server.close()));
  }

  /**
   * Stops listening, disconnects every client, runs the shutdown hooks and stops every timer:
   * afterwards nothing of the broker keeps the process alive. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.emit("broker_pre_shutdown");
      clearInterval(this.#sweep);
      await Promise.all(this.#companions.splice(0).map((stop) => stop()));
      await this.#unbind();
      for (const client of this.#connections.snapshot()) client.close("shutdown");
      this.deadlines.clear();
      for (const conn of this.#refusing) conn.close();
      this.emit("broker_post_shutdown");
      try {
        await this.hooks.teardown?.();
      } finally {
        try {
          clearTimeout(this.#commitTimer);
          this.#storeClosing = true;
          await this.store.close();
        } catch (error) {
          this.logger.error(
            `${(error as Error).message}; the broker stops with records not written, whose ` +
              `acknowledgements were never sent (their clients send those packets again)`,
          );
        } finally {
          this.#markClosed();
        }
      }
      this.logger.info("broker stopped");
    })();
    return this.#closing;
  }
}
