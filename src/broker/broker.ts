/**
 * The broker: listeners, connections, sessions, routing and retained messages. It sees the
 * network only through a {@link RuntimeAdapter} and plugins only through {@link BrokerHooks}.
 *
 * @module
 */
import { ConnackCode, type ConnectPacket, type QoS } from "../protocol/packets.ts";
import { topicNameError } from "../protocol/topic.ts";
import type { ResolvedConfig, ResolvedListener } from "../config/types.ts";
import type { Connection, RuntimeAdapter, Server } from "../runtime/types.ts";
import type {
  AuthRequest,
  BrokerEventHandler,
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  DisconnectReason,
  Message,
  TopicAction,
} from "../plugins/types.ts";
import { escapingLogger, type Logger } from "../log.ts";
import { Client } from "./client.ts";
import { EventHub } from "./events.ts";
import { ExpiryQueue } from "./expiry.ts";
import { RoutedMessage } from "./message.ts";
import { RetainedStore } from "./retained.ts";
import { Session, type SessionContext } from "./session.ts";
import { newStats, type Stats } from "./stats.ts";
import { SubscriptionTree } from "./subscriptions.ts";
import { encodeConnack } from "../protocol/encode.ts";

/** What the broker asks of its plugins (the plugin manager provides it). */
export interface BrokerHooks {
  authenticate(request: AuthRequest): boolean | Promise<boolean>;
  checkTopic(client: ClientInfo, topic: string, action: TopicAction): boolean | Promise<boolean>;
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void;
  listens(event: BrokerEventName): boolean;
  /** Frees what the plugins hold; called last by `close()`. */
  teardown?(): Promise<void>;
  /** Re-reads what plugins loaded from files (e.g. the password file), on SIGHUP. */
  reload?(): Promise<void>;
}

/** A listener as bound. */
export interface BoundListener {
  readonly name: string;
  readonly type: "tcp" | "ws";
  readonly tls: boolean;
  readonly hostname: string;
  /** The real port, also when the config said 0. */
  readonly port: number;
}

/** A message to publish from the embedding application. */
export interface PublishOptions {
  topic: string;
  payload?: Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
}

/** Why {@link Broker.attach} refused an authenticated CONNECT. */
export interface Refusal {
  /** The CONNACK return code. */
  code: number;
  /** For the log line. */
  why: string;
}

/** A user name for log lines; every client without one is the one anonymous identity. */
function identity(info: ClientInfo): string {
  return info.username ? JSON.stringify(info.username) : "anonymous";
}

/** What a wrong argument is, for error messages: `null`, `number`, `ArrayBuffer`. */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

/** How often timeouts are checked. */
const SWEEP_MS = 500;

const utf8 = new TextEncoder();

/** A topic name's length field is 16 bits. */
const MAX_TOPIC_BYTES = 65535;

/** The MQTT broker core. Create it with `createBroker`. */
export class Broker {
  readonly stats: Stats = newStats();
  readonly #events: EventHub;
  readonly #connections = new Set<Client>();
  readonly #clients = new Map<string, Client>();
  readonly #sessions = new Map<string, Session>();
  readonly #subscriptions = new SubscriptionTree<Session>();
  readonly #retained: RetainedStore;
  /** Disconnected persistent sessions, by when they expire. */
  readonly #expiries = new ExpiryQueue<Session>();
  /** The bounds already reported in the log: each is logged once per run, the rest counted. */
  readonly #boundsLogged = new Set<string>();
  readonly #perListener = new Map<string, number>();
  readonly #servers: { server: Server; listener: BoundListener }[] = [];
  readonly #sessionContext: SessionContext;
  readonly #startedAt = Date.now();
  #sweep: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | undefined;
  #routeMark = 0;
  /** Reused by every routing that is not nested in another one's deliveries. */
  readonly #routeTargets: Session[] = [];
  readonly #routeLevels: QoS[] = [];
  /** Where {@link Broker.#collect} puts sessions during the current match. */
  #collecting: Session[] = this.#routeTargets;
  #delivering = false;
  /**
   * Per session, the last delivery still waiting for an async `receive` verdict. Later deliveries
   * to that session wait behind it, whatever their own verdict, so it gets messages in order.
   */
  readonly #receiving = new Map<Session, Promise<void>>();
  #nextId = 0;
  #connectSeq = 0;

  /** What plugins say; replaced once plugins are loaded. */
  hooks: BrokerHooks = {
    authenticate: () => true,
    checkTopic: () => true,
    emit: () => {},
    listens: () => false,
  };

  /**
   * Every line of the broker and its plugins goes through here; it escapes control characters
   * (see {@link escapingLogger}).
   */
  readonly logger: Logger;

  constructor(readonly config: ResolvedConfig, logger: Logger) {
    this.logger = escapingLogger(logger);
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
    };
  }

  /** Logs the first refusal at the bound `key` of this run; later ones are only counted. */
  #bounded(key: string, what: string): void {
    if (this.#boundsLogged.has(key)) return;
    this.#boundsLogged.add(key);
    this.logger.warn(`${key} reached: ${what} (logged once; $SYS counts each)`);
  }

  /** Adds an event listener. */
  on<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Removes an event listener. */
  off<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): this {
    this.#events.off(event, listener);
    return this;
  }

  /** @internal Emits to embedders' listeners and to plugins. */
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void {
    this.#events.emit(event, ...args);
    this.hooks.emit(event, ...args);
  }

  #listens(event: BrokerEventName): boolean {
    return this.#events.listens(event) || this.hooks.listens(event);
  }

  /** The listeners as bound. */
  get listeners(): BoundListener[] {
    return this.#servers.map((s) => s.listener);
  }

  /** The clients connected now. */
  get clients(): ClientInfo[] {
    return [...this.#clients.values()].map((c) => c.info!);
  }

  /** Gauges for `$SYS` and monitoring. */
  get gauges(): {
    clientsConnected: number;
    sessionsTotal: number;
    sessionsDisconnected: number;
    inflight: number;
    queued: number;
    retained: number;
    retainedBytes: number;
    subscriptions: number;
    uptimeSeconds: number;
  } {
    let inflight = 0;
    let queued = 0;
    for (const session of this.#sessions.values()) {
      inflight += session.inflight.size;
      queued += session.queue.length;
    }
    return {
      clientsConnected: this.#clients.size,
      sessionsTotal: this.#sessions.size,
      sessionsDisconnected: this.#sessions.size - this.#clients.size,
      inflight,
      queued,
      retained: this.#retained.size,
      retainedBytes: this.#retained.bytes,
      subscriptions: this.#subscriptions.size,
      uptimeSeconds: Math.floor((Date.now() - this.#startedAt) / 1000),
    };
  }

  /** Binds every configured listener; on failure unbinds what was bound and rethrows. */
  async listen(adapter: RuntimeAdapter): Promise<void> {
    try {
      for (const listener of this.config.listeners) {
        const server = await adapter.listen({
          hostname: listener.hostname,
          port: listener.port,
          type: listener.type,
          tls: listener.tls,
          // A stalled TLS handshake is an idle connection like one that sends no CONNECT.
          handshakeTimeoutMs: this.config.limits.connectTimeoutMs,
          onConnection: (conn) => this.#accept(conn, listener),
          onHandshakeError: ({ hostname, port }, reason) =>
            this.logger.info(
              `listener ${listener.name}: TLS handshake with ${hostname}:${port} failed: ${reason}`,
            ),
        }).catch((error: Error) => {
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
        const scheme = (listener.type === "ws" ? "ws" : "mqtt") + (listener.tls ? "s" : "");
        const host = server.hostname.includes(":") ? `[${server.hostname}]` : server.hostname;
        this.logger.info(`listener ${listener.name} ready on ${scheme}://${host}:${server.port}`);
      }
    } catch (error) {
      await this.#unbind();
      throw error;
    }
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const client of this.#connections) client.checkTimers(now);
      this.#expire(now);
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
      conn.close();
      return;
    }
    this.#perListener.set(listener.name, open + 1);
    const client = new Client(this, conn, listener.name);
    this.#connections.add(client);
    client.run();
  }

  /** @internal A fresh client id for a client that sent an empty one. */
  newClientId(): string {
    let id: string;
    do id = `auto-${Date.now().toString(36)}-${(this.#nextId++).toString(36)}`; while (
      this.#sessions.has(id)
    );
    return id;
  }

  /** @internal Stamps a CONNECT as it arrives: later CONNECTs get higher numbers. */
  connectSequence(): number {
    return ++this.#connectSeq;
  }

  /**
   * @internal CONNECT authenticated: unless the client id belongs to someone else or a newer
   * CONNECT holds it, take over, find or create the session, answer CONNACK.
   */
  attach(client: Client, info: ClientInfo, packet: ConnectPacket): Refusal | undefined {
    const id = info.clientId;
    const current = this.#clients.get(id);
    let session = this.#sessions.get(id);
    // A session is its creator's until it ends, whatever clean-session the newcomer asks for:
    // a clean start would wipe it as surely as a resume would read it.
    if (session?.info && (session.info.username || "") !== (info.username || "")) {
      return {
        code: ConnackCode.NOT_AUTHORIZED,
        why: `client id ${id} belongs to ${identity(session.info)}, not ${identity(info)}`,
      };
    }
    // A CONNECT whose authentication outlasted a later one's lost the race: taking over now would
    // close the newer connection. It gets "server unavailable", a transient refusal that says
    // nothing is wrong with its credentials (4, 5) or its client id (2); if it retries, that is an
    // ordinary takeover.
    // The session remembers its last CONNECT, so the race is lost also when that one has left.
    const newest = Math.max(current?.connectSeq ?? 0, session?.connectSeq ?? 0);
    if (newest > client.connectSeq) {
      return {
        code: ConnackCode.SERVER_UNAVAILABLE,
        why: `a newer connection with client id ${id} was admitted first`,
      };
    }
    const full = this.#refuseNewSession(id);
    if (full) return full;
    current?.close("takeover", "another connection took over its client id");
    if (session && packet.cleanSession) {
      this.#endSession(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (!session) {
      session = new Session(id, packet.cleanSession, this.#sessionContext);
      this.#sessions.set(id, session);
    }
    session.client = client;
    session.info = info;
    session.connectSeq = client.connectSeq;
    client.session = session;
    client.info = info;
    client.will = packet.will;
    client.keepaliveMs = packet.keepalive * 1000;
    // The keepalive counts from admission: a slow authentication is not the client's silence.
    client.lastRead = Date.now();
    this.#clients.set(id, client);
    this.stats.clientsMaximum = Math.max(this.stats.clientsMaximum, this.#clients.size);
    client.send(encodeConnack(ConnackCode.ACCEPTED, present));
    // In flight before anything new: a listener below may publish to this very session.
    if (present) session.resend();
    this.logger.debug(`connected ${client.label}${present ? " (session resumed)" : ""}`);
    this.emit("broker_client_connected", info);
    return undefined;
  }

  /**
   * Refuses a CONNECT that needs a new session when `max-sessions` are there already (taking
   * over or resuming an existing one needs none, and clean-session ends the old one first).
   */
  #refuseNewSession(id: string): Refusal | undefined {
    const max = this.config.limits.maxSessions;
    if (max === 0 || this.#sessions.size < max || this.#sessions.has(id)) return undefined;
    this.stats.sessionsRefused++;
    const code = ConnackCode.SERVER_UNAVAILABLE;
    this.#bounded("max-sessions", `CONNECTs of new client ids get CONNACK ${code}`);
    return { code, why: `max-sessions ${max} reached` };
  }

  /** Ends the persistent sessions whose expiry has come. */
  #expire(now: number): void {
    let session: Session | undefined;
    while ((session = this.#expiries.pop(now))) {
      // A session resumed since keeps its deadline only until it next disconnects.
      if (session.client || this.#sessions.get(session.clientId) !== session) continue;
      this.stats.sessionsExpired++;
      this.logger.debug(`session ${session.clientId} expired`);
      this.#endSession(session);
    }
  }

  /** @internal The connection ended: will, session, bookkeeping. */
  detach(client: Client, reason: DisconnectReason): void {
    if (this.#connections.delete(client)) {
      const open = this.#perListener.get(client.listener) ?? 1;
      this.#perListener.set(client.listener, open - 1);
    }
    const session = client.session;
    if (!session || !client.info) return;
    if (this.#clients.get(session.clientId) === client) this.#clients.delete(session.clientId);
    if (session.client === client) session.client = undefined;
    const will = client.will;
    client.will = undefined;
    if (will && reason !== "disconnect" && reason !== "shutdown") {
      this.#publishWill(client.info, will);
    }
    if (
      session.cleanSession && !session.client && this.#sessions.get(session.clientId) === session
    ) {
      this.#endSession(session);
    } else if (
      !session.client && session.expiryMs > 0 && this.#sessions.get(session.clientId) === session
    ) {
      this.#expiries.set(session, Date.now() + session.expiryMs);
    }
    this.logger.debug(`disconnected ${client.label}: ${reason}`);
    this.emit("broker_client_disconnected", client.info, reason);
  }

  #publishWill(info: ClientInfo, will: NonNullable<Client["will"]>): void {
    const route = (allowed: boolean) => {
      if (allowed) {
        this.route(new RoutedMessage(will.topic, will.payload, will.qos, will.retain), info);
      }
    };
    if (will.topic === "$SYS" || will.topic.startsWith("$SYS/")) return;
    const verdict = this.hooks.checkTopic(info, will.topic, "publish");
    if (typeof verdict === "boolean") route(verdict);
    else verdict.then(route);
  }

  #endSession(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.#subscriptions.remove(filter, session);
    session.subscriptions.clear();
    session.clear();
    this.#expiries.delete(session);
    this.#sessions.delete(session.clientId);
  }

  /**
   * @internal Adds or replaces a subscription of a connected client's session; returns false,
   * adding nothing, when a new one would exceed `max-subscriptions-per-session`.
   */
  subscribe(client: Client, filter: string, qos: QoS): boolean {
    const session = client.session!;
    const max = this.config.limits.maxSubscriptionsPerSession;
    if (max > 0 && session.subscriptions.size >= max && !session.subscriptions.has(filter)) {
      this.stats.subscriptionsRefused++;
      this.#bounded("max-subscriptions-per-session", "further topic filters get 0x80 in SUBACK");
      return false;
    }
    session.subscriptions.set(filter, qos);
    this.#subscriptions.add(filter, session, qos);
    this.emit("broker_client_subscribed", client.info!, filter, qos);
    return true;
  }

  /** @internal Removes a subscription if the session has it. */
  unsubscribe(client: Client, filter: string): void {
    const session = client.session!;
    if (!session.subscriptions.delete(filter)) return;
    session.cancelRetained(filter);
    this.#subscriptions.remove(filter, session);
    this.emit("broker_client_unsubscribed", client.info!, filter);
  }

  /**
   * @internal Sends the retained messages matching a new subscription, with retain set, as fast
   * as the client takes them.
   */
  sendRetained(client: Client, filter: string, qos: QoS): void {
    client.session!.sendRetained(filter, qos, this.#retained.matching(filter));
  }

  /**
   * Delivers, asking the topic plugins about `receive` first when topic checks are on (a plugin
   * may narrow what a subscription granted, e.g. after a reload). An async answer delivers late,
   * and so does every later message to the same session until it is given: synchronous answers
   * stay synchronous only while none is pending for that session.
   */
  #deliver(session: Session, message: RoutedMessage, qos: QoS, retain: boolean): void {
    if (this.config.topicCheck.enabled && session.info) {
      const verdict = this.hooks.checkTopic(session.info, message.topic, "receive");
      const before = this.#receiving.size === 0 ? undefined : this.#receiving.get(session);
      if (before === undefined) {
        if (verdict === false) return;
        if (verdict === true) return session.deliver(message, qos, retain);
      }
      const done = Promise.all([verdict, before]).then(([allowed]) => {
        if (allowed) session.deliver(message, qos, retain);
        if (this.#receiving.get(session) === done) this.#receiving.delete(session);
      });
      this.#receiving.set(session, done);
      return;
    }
    session.deliver(message, qos, retain);
  }

  /** Collects each matching session once, with the highest QoS among its matching filters. */
  #collect = (session: Session, qos: QoS): void => {
    if (session.routeMark !== this.#routeMark) {
      session.routeMark = this.#routeMark;
      session.routeQos = qos;
      this.#collecting.push(session);
    } else if (qos > session.routeQos) {
      session.routeQos = qos;
    }
  };

  /** @internal Stores (if retained) and delivers a message to every matching session. */
  route(message: RoutedMessage, from: ClientInfo | undefined): void {
    if (message.retain && !this.#retained.set(message)) this.#retainedDropped();
    // A plugin asked during delivery may publish: such a nested routing gets arrays of its own,
    // and every QoS is fixed before the first delivery because nesting reuses `routeQos`.
    const nested = this.#delivering;
    const targets = nested ? [] : this.#routeTargets;
    const levels = nested ? [] : this.#routeLevels;
    this.#routeMark++;
    this.#collecting = targets;
    this.#subscriptions.match(message.topic, this.#collect);
    const qos = message.qos;
    for (let i = 0; i < targets.length; i++) {
      const granted = targets[i].routeQos;
      levels[i] = granted < qos ? granted : qos;
    }
    this.#delivering = true;
    try {
      for (let i = 0; i < targets.length; i++) this.#deliver(targets[i], message, levels[i], false);
    } finally {
      this.#delivering = nested;
      targets.length = 0;
      levels.length = 0;
    }
    if (this.#listens("broker_message_received")) {
      this.emit("broker_message_received", from, message);
    }
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
   * Publishes a message as the broker itself (it may use `$SYS`). Throws a TypeError for an
   * invalid topic or a payload that is neither a string nor bytes, and a RangeError for a topic
   * over 65,535 UTF-8 bytes or a QoS other than 0, 1 or 2.
   */
  publish(options: PublishOptions | Message): void {
    const { topic, qos = 0, retain = false } = options;
    if (typeof topic !== "string") {
      throw new TypeError(`cannot publish: topic must be a string, not ${kind(topic)}`);
    }
    const error = topicNameError(topic);
    if (error) throw new TypeError(`cannot publish to ${JSON.stringify(topic)}: ${error}`);
    // A UTF-16 code unit takes at most 3 UTF-8 bytes: only long topics need measuring.
    if (topic.length > MAX_TOPIC_BYTES / 3 && utf8.encode(topic).length > MAX_TOPIC_BYTES) {
      throw new RangeError(
        `cannot publish: the topic is over ${MAX_TOPIC_BYTES} bytes of UTF-8, which MQTT cannot carry`,
      );
    }
    if (qos !== 0 && qos !== 1 && qos !== 2) {
      throw new RangeError(`cannot publish to ${topic}: qos must be 0, 1 or 2, not ${String(qos)}`);
    }
    if (typeof retain !== "boolean") {
      throw new TypeError(
        `cannot publish to ${topic}: retain must be a boolean, not ${kind(retain)}`,
      );
    }
    const given: unknown = options.payload;
    let payload: Uint8Array;
    if (typeof given === "string") payload = utf8.encode(given);
    else if (given instanceof Uint8Array) payload = given;
    else if (given === undefined) payload = new Uint8Array(0);
    else {
      throw new TypeError(
        `cannot publish to ${topic}: payload must be a string or a Uint8Array, not ${kind(given)}`,
      );
    }
    this.route(new RoutedMessage(topic, payload, qos, retain), undefined);
  }

  async #unbind(): Promise<void> {
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map(({ server }) => server.close()));
  }

  /** Re-reads plugin files such as the password file (the CLI calls this on SIGHUP). */
  async reload(): Promise<void> {
    await this.hooks.reload?.();
  }

  /**
   * Stops listening, disconnects every client, runs the shutdown hooks and stops every timer:
   * afterwards nothing of the broker keeps the process alive. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.emit("broker_pre_shutdown");
      clearInterval(this.#sweep);
      await this.#unbind();
      for (const client of [...this.#connections]) client.close("shutdown");
      this.emit("broker_post_shutdown");
      await this.hooks.teardown?.();
      this.logger.info("broker stopped");
    })();
    return this.#closing;
  }

  /** `await using broker = await createBroker(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
