/**
 * One node of a cluster of brokers over Redis: it announces the filters of its subscribers,
 * sends each message only to the nodes whose filters match it (QoS 1/2 through their inbox
 * streams, QoS 0 on their channels), mirrors the retained messages, takes its turn in shared
 * subscriptions that span nodes, keeps its clients' wills in Redis and publishes those of nodes
 * whose heartbeat lapsed, and holds the leases of its clients' ids (handing their sessions to
 * the node they connect to next, see sessions.ts) and the copies of its durable sessions in Redis
 * (mirror.ts), which any node resumes once this one died; its figures go to
 * `$SYS/broker/cluster/`. See the README's "Cluster" section for what it guarantees.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { ClusterSettings } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Will } from "../protocol/packets.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { ClaimOutcome, ClusterBus, ClusterSeam } from "../broker/cluster_seam.ts";
import { RoutedMessage } from "../broker/message.ts";
import type { ShareGroup, Subscriber } from "../broker/subscriptions.ts";
import {
  decodeBatch,
  encodeBatch,
  encodeFrame,
  type Frame,
  splitOrigin,
  withOrigin,
} from "./frame.ts";
import { Inbox } from "./inbox.ts";
import { Interest, shareKey } from "./interest.ts";
import * as keys from "./keys.ts";
import { type ClusterCounters, Outbox } from "./outbox.ts";
import { connectOrFail, redactUrl, redisConnection } from "./redis.ts";
import { Sessions } from "./sessions.ts";
import type { SessionMirror } from "./mirror.ts";

/** A node's figures, as `Cluster.health` gives them. */
export interface ClusterHealth extends Readonly<ClusterCounters> {
  readonly nodesUp: number;
  /** Whether the node's link to Redis is up now. */
  readonly connected: boolean;
  /** Messages waiting to be sent or read by their target node. */
  readonly buffered: number;
}

/** What the cluster needs of the broker besides the seam. */
export interface ClusterHost extends ClusterSeam {
  /** Whether a client may publish its will's topic (fail closed, as for any publish). */
  checkTopic(info: ClientInfo, topic: string): boolean | Promise<boolean>;
  /** Whether the store keeps sessions across restarts: then the inbox resumes where it was. */
  readonly durable: boolean;
}

/** A heartbeat this many intervals old means the node is dead. */
const LAPSE = 3;
/** How long the survivor that publishes a dead node's wills keeps that role, in ms. */
const REAPER_MS = 60_000;
/** Beyond three heartbeats, how long connections are remembered for the wills of the dead, in ms. */
const REAPER_GRACE_MS = 5000;
/** How long close() waits for Redis to take the last messages, in ms. */
const CLOSE_MS = 2000;
/** The empty message of a marker frame (see {@link Frame.marker}). */
const MARK = new RoutedMessage("", new Uint8Array(0), 1, false);

function filterKey(filter: string, group: string | undefined): string {
  return group === undefined ? filter : `$share/${group}/${filter}`;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A node of the cluster; {@link startCluster} makes one. */
export class Cluster implements ClusterBus {
  readonly counters: ClusterCounters = { messagesOut: 0, messagesIn: 0, duplicates: 0, dropped: 0 };
  readonly node: string;
  /** This run of the node: sequence numbers start again with it. */
  readonly run: string;
  readonly #interest: Interest;
  readonly #outbox: Outbox;
  /** The leases of this node's client ids, and the handover of their sessions. */
  readonly sessions: Sessions;
  #inbox: Inbox | undefined;
  /** By client id: the will frame this node keeps in Redis, or a check still running. */
  readonly #wills = new Map<string, Uint8Array | object>();
  /** By client id: wills of dead nodes' clients waiting for their delay. */
  readonly #due = new Map<string, ReturnType<typeof setTimeout>>();
  /**
   * By client id, oldest first: the node each client connected to lately, for as long as a death
   * takes to notice, so that a will whose client came back elsewhere is not published.
   */
  readonly #recent = new Map<string, { node: string; at: number }>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #sys: ReturnType<typeof setInterval> | undefined;
  /** The other nodes whose heartbeat is fresh. */
  #alive = new Set<string>();
  /** An announcement failed: every filter and will goes again when Redis is back. */
  #dirty = false;
  /** By topic: retained messages set here that did not reach Redis, sent again when it is back. */
  readonly #missedRetained = new Map<string, RoutedMessage>();
  #downLogged = false;
  #closed = false;

  constructor(
    readonly settings: ClusterSettings,
    readonly host: ClusterHost,
    readonly logger: Logger,
    readonly cmd: Redis,
    readonly sub: Redis,
    readonly reader: Redis,
    readonly sysIntervalMs: number,
    readonly mirror: SessionMirror,
  ) {
    this.node = settings.node;
    this.run = `${settings.node}/${Date.now().toString(36)}${
      Math.random().toString(36).slice(2, 8)
    }`;
    this.#interest = new Interest(this.node);
    this.#outbox = new Outbox(cmd, this.run, settings.maxBufferedMessages, this.counters, logger);
    this.sessions = new Sessions(cmd, this.node, host, settings.handoverTimeoutMs, logger);
    mirror.bind(cmd, this.sessions.leases);
  }

  /** The nodes up now, this one included. */
  get nodesUp(): number {
    return this.#alive.size + 1;
  }

  /** Messages waiting to be sent or read by their target node. */
  get buffered(): number {
    return this.#outbox.buffered;
  }

  /** This node's figures and whether its Redis link is up, for `/metrics` and `/readyz`. */
  get health(): ClusterHealth {
    return {
      nodesUp: this.nodesUp,
      connected: this.cmd.status === "ready",
      buffered: this.buffered,
      ...this.counters,
    };
  }

  /** The `$SYS/broker/cluster/` values of this node. */
  get figures(): Record<string, number | string> {
    const c = this.counters;
    return {
      node: this.node,
      "nodes/up": this.nodesUp,
      "messages/out": c.messagesOut,
      "messages/in": c.messagesIn,
      "messages/duplicates": c.duplicates,
      "messages/dropped": c.dropped,
      buffered: this.buffered,
    };
  }

  #publishSys(): void {
    const encoder = new TextEncoder();
    for (const [suffix, value] of Object.entries(this.figures)) {
      const payload = encoder.encode(String(value));
      this.host.route(
        new RoutedMessage(`$SYS/broker/cluster/${suffix}`, payload, 0, true),
        undefined,
      );
    }
  }

  /** Joins: heartbeat, filters of the others, retained messages, inbox. */
  async join(): Promise<void> {
    const { cmd, sub, node } = this;
    const holder = await cmd.get(keys.alive(node));
    if (holder !== null) {
      throw new Error(
        `cluster.node: a node named ${node} is up already (its heartbeat is fresh); give each ` +
          `node its own name, or wait ${
            (LAPSE * this.settings.heartbeatMs) / 1000
          } s after it stopped`,
      );
    }
    await this.#beat();
    await cmd.multi().sadd(keys.NODES, node).del(keys.filters(node)).exec();
    sub.on("messageBuffer", (channel: Buffer, message: Buffer) => this.#heard(channel, message));
    await sub.subscribe(
      keys.INTEREST_CHANNEL,
      keys.RETAINED_CHANNEL,
      keys.CLIENTS_CHANNEL,
      keys.direct(node),
      keys.sessions(node),
    );
    await cmd.publish(keys.INTEREST_CHANNEL, `${node} reload`);
    await this.#loadOthers();
    await this.#loadRetained();
    this.#inbox = new Inbox(
      this.reader,
      cmd,
      node,
      await this.#inboxStart(),
      (frame) => this.#deliver(frame),
      () => this.host.clusterBackedUp(),
      this.counters,
      this.logger,
    );
    this.#inbox.start();
    cmd.on("ready", () => this.#reconnected());
    cmd.on("close", () => this.#linkDown());
    sub.on("ready", () => void this.#loadOthers().catch(() => {}));
    this.#heartbeat = setInterval(() => this.#tick(), this.settings.heartbeatMs);
    if (this.sysIntervalMs > 0) {
      this.#sys = setInterval(() => this.#publishSys(), this.sysIntervalMs);
    }
    this.logger.info(
      `cluster: node ${node} joined ${redactUrl(this.settings.redis)}, ${this.nodesUp} nodes up`,
    );
  }

  interest(filter: string, group: string | undefined, added: boolean): void {
    const key = filterKey(filter, group);
    if (added) this.#interest.add(this.node, key);
    else this.#interest.remove(this.node, key);
    const hash = keys.filters(this.node);
    const tx = this.cmd.multi();
    (added ? tx.hset(hash, key, "1") : tx.hdel(hash, key))
      .publish(keys.INTEREST_CHANNEL, `${this.node} ${added ? "+" : "-"}${key}`);
    tx.exec().catch(() => this.#dirty = true);
  }

  routed(message: RoutedMessage, groups: ShareGroup<Subscriber>[]): number {
    if (message.retain && !message.topic.startsWith("$")) this.#shareRetained(message);
    // `$SYS` is each node's own.
    if (message.topic.startsWith("$SYS")) return 0;
    const targets = this.#interest.match(message.topic);
    if (groups.length > 0) {
      let kept = 0;
      for (const group of groups) {
        if (targets.local.has(shareKey(group.filter, group.name))) groups[kept++] = group;
      }
      groups.length = kept;
    }
    if (targets.nodes.size === 0) return 0;
    const reliable = message.qos > 0;
    // One sequence number for every target (each sees an increasing subsequence), and one
    // encoding for every target that takes it for its plain subscriptions only.
    const seq = this.#outbox.nextSeq();
    if (reliable) {
      message.clusterOrigin = this.run;
      message.clusterSeq = seq;
    }
    let plainOnly: Uint8Array | undefined;
    for (const [target, { plain, shares }] of targets.nodes) {
      const frame = shares.length === 0
        ? plainOnly ??= encodeFrame({ seq, message, plain, shares })
        : encodeFrame({ seq, message, plain, shares });
      this.#outbox.add(target, frame, seq, reliable);
    }
    const hold = reliable ? this.#outbox.flowHold() : undefined;
    if (hold) {
      // Slowed while a target is behind; then it still waits for its commit, as any.
      this.host.holdAcknowledgement((flush) =>
        hold(() => {
          if (!this.host.holdForCommit(flush)) flush();
        })
      );
    }
    return targets.nodes.size;
  }

  holdOutput(flush: () => void): boolean {
    const mirror = this.mirror;
    const afterOutbox = () => {
      if (!mirror.holdOutput(flush)) flush();
    };
    return this.#outbox.holdOutput(afterOutbox) || mirror.holdOutput(flush);
  }

  will(
    clientId: string,
    info: ClientInfo | undefined,
    will: Will | undefined,
    dueAt: number,
  ): void {
    if (!will || !info || will.topic.startsWith("$SYS")) {
      if (this.#wills.delete(clientId)) {
        this.cmd.hdel(keys.wills(this.node), clientId).catch(() => this.#dirty = true);
      }
      return;
    }
    const token = {};
    this.#wills.set(clientId, token);
    const keep = (allowed: boolean) => {
      if (this.#wills.get(clientId) !== token) return;
      if (!allowed) {
        this.#wills.delete(clientId);
        return;
      }
      const { topic, payload, qos, retain, properties } = will;
      const message = new RoutedMessage(topic, payload, qos, retain, properties);
      // The frame's sequence number carries when the will is due (0: when its node dies).
      const frame = encodeFrame({ seq: dueAt, message, plain: true, shares: [] });
      this.#wills.set(clientId, frame);
      this.cmd.hset(keys.wills(this.node), clientId, asBuffer(frame))
        .catch(() => this.#dirty = true);
    };
    const verdict = this.host.checkTopic(info, will.topic);
    if (typeof verdict === "boolean") keep(verdict);
    else verdict.then(keep, () => keep(false));
  }

  attached(info: ClientInfo): void {
    this.#connectedTo(info.clientId, this.node);
    const notice = JSON.stringify({ n: this.node, c: info.clientId, u: info.username ?? null });
    this.cmd.publish(keys.CLIENTS_CHANNEL, notice).catch(() => {});
  }

  claim(info: ClientInfo, resume: boolean, held: boolean): Promise<ClaimOutcome> {
    return this.sessions.claim(info, resume, held);
  }

  ended(clientId: string): void {
    this.sessions.ended(clientId);
  }

  /** Leaves the cluster: the last messages go, the node's keys go, the connections close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearInterval(this.#sys);
    for (const timer of this.#due.values()) clearTimeout(timer);
    this.#due.clear();
    await this.mirror.flush(this.cmd.status === "ready" ? CLOSE_MS : 0);
    await this.mirror.close();
    await this.#outbox.close(this.cmd.status === "ready" ? CLOSE_MS : 0);
    await this.#inbox?.close();
    this.sessions.close();
    if (this.cmd.status === "ready") {
      // Sessions kept in a store come back with the node: their leases wait for it.
      if (!this.host.durable) await this.sessions.leases.dropNode(this.node).catch(() => {});
      // A clean exit: nobody is to publish the wills of this node's clients.
      await this.cmd.multi()
        .del(keys.alive(this.node), keys.filters(this.node), keys.wills(this.node))
        .srem(keys.NODES, this.node)
        .publish(keys.INTEREST_CHANNEL, `${this.node} gone`)
        .exec()
        .catch(() => {});
    }
    this.sub.disconnect();
    this.reader.disconnect();
    this.cmd.disconnect();
  }

  #deliver(frame: Frame): void {
    if (frame.marker !== undefined) return this.sessions.marked(frame.marker);
    if (frame.message.expired) return;
    this.host.deliverFromCluster(frame.message, frame.plain, frame.shares);
  }

  #heard(channel: Buffer, message: Buffer): void {
    const name = channel.toString();
    if (name === keys.INTEREST_CHANNEL) this.#interestChanged(message.toString());
    else if (name === keys.CLIENTS_CHANNEL) this.#clientElsewhere(message.toString());
    else if (name === keys.sessions(this.node)) this.sessions.heard(message.toString());
    else if (name === keys.RETAINED_CHANNEL) {
      const { origin, bytes } = splitOrigin(message);
      if (origin === this.run) return;
      for (const frame of decodeBatch(bytes)) this.host.retainFromCluster(frame.message);
    } else if (name === keys.direct(this.node)) {
      for (const frame of decodeBatch(message)) {
        this.counters.messagesIn++;
        this.#deliver(frame);
      }
    }
  }

  #clientElsewhere(text: string): void {
    let notice: { n?: unknown; c?: unknown; u?: unknown };
    try {
      notice = JSON.parse(text);
    } catch {
      return;
    }
    if (notice.n === this.node || typeof notice.c !== "string") return;
    this.#connectedTo(notice.c, String(notice.n));
    this.host.takeOverFromCluster(notice.c, typeof notice.u === "string" ? notice.u : undefined);
  }

  #interestChanged(text: string): void {
    const space = text.indexOf(" ");
    const node = text.slice(0, space);
    const what = text.slice(space + 1);
    if (what.startsWith("barrier ")) {
      const barrier = what.slice("barrier ".length);
      const mark = this.sessions.heardBarrier(barrier);
      if (mark) {
        // After every message this node routed to the old node before it heard the barrier.
        const seq = this.#outbox.nextSeq();
        const frame = encodeFrame({
          seq,
          message: MARK,
          plain: false,
          shares: [],
          marker: mark.marker,
        });
        this.#outbox.add(mark.to, frame, seq, true, true);
      } else {
        this.#nodesUp().then(
          (nodes) => this.sessions.markersFrom(barrier, nodes),
          () => this.sessions.markersFrom(barrier, this.#alive),
        );
      }
      return;
    }
    if (node === this.node) {
      // Reaped while cut off from Redis: everything goes again.
      if (what === "gone" && !this.#closed) this.#dirty = true;
      return;
    }
    if (what[0] === "+") this.#interest.add(node, what.slice(1));
    else if (what[0] === "-") this.#interest.remove(node, what.slice(1));
    else if (what === "gone") this.#gone(node);
    else if (what === "reload") void this.#loadFilters(node).catch(() => {});
  }

  #gone(node: string): void {
    this.#interest.forget(node);
    this.#outbox.forget(node);
    this.#alive.delete(node);
    this.sessions.nodeGone(node);
  }

  /**
   * The other nodes up now, as Redis has them: a node that joins later reads every filter
   * announced before from Redis, while this node's own view lags by a heartbeat.
   */
  async #nodesUp(): Promise<Set<string>> {
    const beats = await this.#heartbeats();
    return new Set(beats.filter(([, up]) => up).map(([node]) => node));
  }

  /** Every other node Redis knows, and whether its heartbeat is fresh. */
  async #heartbeats(): Promise<[string, boolean][]> {
    const nodes = (await this.cmd.smembers(keys.NODES)).filter((n) => n !== this.node);
    const beats = nodes.length > 0 ? await this.cmd.mget(nodes.map(keys.alive)) : [];
    return nodes.map((node, i) => [node, beats[i] !== null]);
  }

  async #loadFilters(node: string): Promise<void> {
    const held = await this.cmd.hkeys(keys.filters(node));
    this.#interest.replace(node, held);
  }

  /** The filters of every other node: at start, and when pub/sub was cut (changes were missed). */
  async #loadOthers(): Promise<void> {
    const nodes = await this.cmd.smembers(keys.NODES);
    for (const node of nodes) {
      if (node === this.node) continue;
      if ((await this.cmd.exists(keys.alive(node))) === 0) continue;
      this.#alive.add(node);
      const held = await this.cmd.hkeys(keys.filters(node));
      // An empty hash after an outage is a node that has not announced again yet.
      if (held.length > 0 || !this.#interest.filtersOf(node).size) {
        this.#interest.replace(node, held);
      }
    }
  }

  async #loadRetained(): Promise<void> {
    const all = await this.cmd.hgetallBuffer(keys.RETAINED);
    for (const bytes of Object.values(all)) {
      for (const frame of decodeBatch(bytes)) {
        if (!frame.message.expired) this.host.retainFromCluster(frame.message);
      }
    }
  }

  /** Where reading the inbox starts: where it stopped for a durable node, else at its end. */
  async #inboxStart(): Promise<{ lastId: string; seen: Map<string, number> }> {
    const seen = new Map<string, number>();
    if (this.host.durable) {
      const stored = await this.cmd.hgetall(keys.offsets(this.node));
      for (const [field, value] of Object.entries(stored)) {
        if (field !== "id") seen.set(field, Number(value));
      }
      if (stored.id) return { lastId: stored.id, seen };
    }
    const last = await this.cmd.xrevrange(keys.inbox(this.node), "+", "-", "COUNT", 1);
    return { lastId: last[0]?.[0] ?? "0-0", seen };
  }

  #shareRetained(message: RoutedMessage): void {
    const frame = encodeFrame({ seq: 0, message, plain: true, shares: [] });
    const tx = this.cmd.multi();
    if (message.payload.length === 0) tx.hdel(keys.RETAINED, message.topic);
    else tx.hset(keys.RETAINED, message.topic, asBuffer(frame));
    tx.publish(keys.RETAINED_CHANNEL, asBuffer(withOrigin(this.run, frame)));
    tx.exec().then(
      () => this.#missedRetained.delete(message.topic),
      () => this.#missedRetained.set(message.topic, message),
    );
  }

  async #beat(): Promise<void> {
    const ttl = LAPSE * this.settings.heartbeatMs;
    await this.cmd.set(keys.alive(this.node), this.run, "PX", ttl);
  }

  #tick(): void {
    if (this.cmd.status !== "ready") return;
    this.#check().catch(() => {});
  }

  /** Heartbeat, announcements Redis lost, what the targets have read, and the dead. */
  async #check(): Promise<void> {
    await this.#beat();
    const lost = (await this.cmd.sadd(keys.NODES, this.node)) === 1;
    if (lost || this.#dirty) await this.#announce();
    if (lost) await this.#restoreRetained();
    for (const message of [...this.#missedRetained.values()]) this.#shareRetained(message);
    for (const target of [...this.#outbox.unreadTargets]) {
      const seq = await this.cmd.hget(keys.offsets(target), this.run);
      if (seq !== null) this.#outbox.read(target, Number(seq));
    }
    const alive = new Set<string>();
    for (const [node, up] of await this.#heartbeats()) {
      if (up) {
        if (!this.#alive.has(node)) await this.#loadFilters(node);
        alive.add(node);
      } else await this.#reap(node);
    }
    for (const node of this.#alive) if (!alive.has(node)) this.#gone(node);
    this.#alive = alive;
  }

  /** Everything this node holds in Redis, again: Redis lost it or never got it. */
  async #announce(): Promise<void> {
    this.#dirty = false;
    const tx = this.cmd.multi().sadd(keys.NODES, this.node).del(keys.filters(this.node));
    for (const filter of this.#interest.filtersOf(this.node)) {
      tx.hset(keys.filters(this.node), filter, "1");
    }
    for (const [clientId, frame] of this.#wills) {
      if (frame instanceof Uint8Array) tx.hset(keys.wills(this.node), clientId, asBuffer(frame));
    }
    tx.publish(keys.INTEREST_CHANNEL, `${this.node} reload`);
    await tx.exec().catch((error) => {
      this.#dirty = true;
      throw error;
    });
    this.#outbox.resendUnread();
  }

  /**
   * Gives a Redis that lost everything (it restarted empty) the retained messages this node
   * holds, without replacing what another node has set since.
   */
  async #restoreRetained(): Promise<void> {
    const tx = this.cmd.multi();
    const frames: Uint8Array[] = [];
    for (const message of this.host.retainedMessages()) {
      const frame = encodeFrame({ seq: 0, message, plain: true, shares: [] });
      frames.push(frame);
      tx.hsetnx(keys.RETAINED, message.topic, asBuffer(frame));
    }
    const results = await tx.exec();
    // The ones Redis took were nowhere else: nodes that joined since get them too.
    const taken = frames.filter((_, i) => results?.[i]?.[1] === 1);
    if (taken.length > 0) {
      const batch = withOrigin(this.run, encodeBatch(taken));
      await this.cmd.publish(keys.RETAINED_CHANNEL, asBuffer(batch));
    }
  }

  /** `clientId` connected to `node`: a will of its last connection waiting for its delay is void. */
  #connectedTo(clientId: string, node: string): void {
    const now = Date.now();
    const window = 2 * LAPSE * this.settings.heartbeatMs + REAPER_GRACE_MS;
    for (const [id, { at }] of this.#recent) {
      if (now - at <= window) break;
      this.#recent.delete(id);
    }
    this.#recent.delete(clientId);
    this.#recent.set(clientId, { node, at: now });
    const due = this.#due.get(clientId);
    if (due !== undefined) {
      clearTimeout(due);
      this.#due.delete(clientId);
    }
  }

  /** A node whose heartbeat lapsed: one survivor publishes its clients' wills and clears it. */
  async #reap(node: string): Promise<void> {
    this.#gone(node);
    const won = await this.cmd.set(keys.reaper(node), this.node, "PX", REAPER_MS, "NX");
    if (won !== "OK") return;
    const wills = await this.cmd.hgetallBuffer(keys.wills(node));
    await this.cmd.multi()
      .del(keys.wills(node), keys.filters(node))
      .srem(keys.NODES, node)
      .publish(keys.INTEREST_CHANNEL, `${node} gone`)
      .exec();
    // Its sessions died with it: their client ids are free for anyone.
    await this.sessions.leases.dropNode(node);
    const count = Object.keys(wills).length;
    this.logger.warn(
      `cluster: node ${node} stopped beating; publishing ${count} wills of its clients`,
    );
    const now = Date.now();
    for (const [clientId, bytes] of Object.entries(wills)) {
      const since = this.#recent.get(clientId);
      for (const { seq: dueAt, message } of decodeBatch(bytes)) {
        const delay = (message.properties?.willDelayInterval ?? 0) * 1000;
        const due = dueAt || now + delay;
        // Back on another node before its will delay was up: no will (MQTT 5.0 3.1.3.2.2).
        if (delay > 0 && since && since.node !== node && since.at < due) continue;
        const wait = Math.max(0, due - now);
        const timer = setTimeout(() => {
          this.#due.delete(clientId);
          this.host.route(message, undefined);
        }, wait);
        this.#due.set(clientId, timer);
      }
    }
  }

  #reconnected(): void {
    if (this.#downLogged) {
      this.#downLogged = false;
      this.logger.warn(`cluster: Redis is back; sending what waited`);
    }
    this.#outbox.drain();
    this.mirror.linkUp();
    this.#tick();
  }

  #linkDown(): void {
    if (this.#closed) return;
    this.#outbox.linkDown();
    this.mirror.linkDown();
    if (!this.#downLogged) {
      this.#downLogged = true;
      this.logger.warn(
        `cluster: lost Redis at ${redactUrl(this.settings.redis)}; serving local clients, ` +
          `buffering up to ${this.settings.maxBufferedMessages} messages for other nodes`,
      );
    }
  }
}

/**
 * Connects to the cluster's Redis and joins; rejects, naming the key, when Redis cannot be
 * reached within `cluster.connect-timeout` or the node name is taken.
 */
export async function startCluster(
  settings: ClusterSettings,
  host: ClusterHost,
  logger: Logger,
  sysIntervalMs: number,
  mirror: SessionMirror,
): Promise<Cluster> {
  const cmd = redisConnection(settings, "cmd");
  const sub = redisConnection(settings, "sub");
  const reader = redisConnection(settings, "inbox");
  // ioredis reports every failed attempt; the cluster logs the outage once instead.
  for (const c of [cmd, sub, reader]) c.on("error", () => {});
  try {
    await connectOrFail(cmd, settings);
    await connectOrFail(sub, settings);
    await connectOrFail(reader, settings);
    const cluster = new Cluster(settings, host, logger, cmd, sub, reader, sysIntervalMs, mirror);
    await cluster.join();
    return cluster;
  } catch (error) {
    for (const c of [cmd, sub, reader]) c.disconnect();
    throw error;
  }
}
