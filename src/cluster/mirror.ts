/**
 * The copies of durable sessions in Redis, so that a node that dies leaves its sessions for any
 * other node to resume. It is the write-through side of a {@link Store} (the core's store is a
 * tee of the local store and this, see store/tee.ts): it keeps what it has been told of each
 * session that outlives its connection, and after each turn writes what changed in one pipeline,
 * one script per session, fenced by the lease epoch this node holds for its client id (lease.ts):
 * a node that lost the lease can never overwrite the new holder's copy. A copy is written whole
 * the first time, and in parts after that, also under the epoch of a new claim here (a
 * reconnect), as long as no other node wrote it meanwhile (the copy's field `e` tells);
 * otherwise whole again.
 *
 * Acknowledgements that depend on a write wait for Redis to confirm it (`holdOutput`, through the
 * cluster's bus). While Redis is away nothing is held: what changed is written whole once the
 * link is back (the state is bounded by the sessions' own bounds). Retained messages are the
 * cluster's already (one copy in Redis); wills too (each node's hash of its clients' wills), so
 * those records are only counted here, for the messages they refer to.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import {
  emptyState,
  type Store,
  type StoredDelivery,
  type StoredMessage,
  type StoredSession,
  type StoredState,
  type StoredSubscription,
  type StoreFigures,
  type StoreSummary,
} from "../store/types.ts";
import { messageFromRecord } from "../broker/records.ts";
import { encodeFrame } from "./frame.ts";
import type { Leases, SessionWrite } from "./lease.ts";
import {
  deliveryField,
  deliveryValue,
  messageField,
  receiveField,
  sessionFields,
  subscriptionField,
  subscriptionValue,
} from "./mirrored.ts";

/** One delivery of a copy; `id` names its fields (the seq it was added with). */
interface Delivery {
  readonly id: number;
  record: StoredDelivery;
  readonly message: StoredMessage;
}

/** What this node knows of one durable session, and what changed since it was written. */
interface Copy {
  record: StoredSession;
  /** The next subscription's place in the order they were made. */
  order: number;
  readonly subscriptions: Map<string, { order: number; options: StoredSubscription["options"] }>;
  readonly receive: Set<number>;
  /** By id. */
  readonly deliveries: Map<number, Delivery>;
  /** Delivery ids by their current seq, as the records name them. */
  readonly seqs: Map<number, number>;
  sessionChanged: boolean;
  readonly changedSubscriptions: Set<string>;
  readonly changedReceive: Set<number>;
  /** Delivery ids, true when the message is new too. */
  readonly changedDeliveries: Map<number, boolean>;
  /**
   * The epoch it was last written whole under, or carried over to (see lease.ts); undefined: it
   * is to be written whole.
   */
  written: number | undefined;
  /** An epoch Redis refused writes under: another node holds the lease. */
  fenced: number | undefined;
}

function newCopy(record: StoredSession): Copy {
  return {
    record,
    order: 0,
    subscriptions: new Map(),
    receive: new Set(),
    deliveries: new Map(),
    seqs: new Map(),
    sessionChanged: true,
    changedSubscriptions: new Set(),
    changedReceive: new Set(),
    changedDeliveries: new Map(),
    written: undefined,
    fenced: undefined,
  };
}

function clearChanges(copy: Copy): void {
  copy.sessionChanged = false;
  copy.changedSubscriptions.clear();
  copy.changedReceive.clear();
  copy.changedDeliveries.clear();
}

function expireAt(record: StoredSession): string {
  return record.expiresAt > 0 ? String(record.expiresAt) : "0";
}

/** The copies of this node's durable sessions in Redis; {@link SessionMirror.bind} connects it. */
export class SessionMirror implements Store {
  readonly durable = true;
  onPending: (() => void) | undefined;
  /** A copy is written per session, whole or in parts, however soon its deliveries are acknowledged. */
  readonly awaitingAck = 0;
  #redis: Redis | undefined;
  #leases: Leases | undefined;
  readonly #copies = new Map<string, Copy>();
  /** Every stored message a delivery or a retained topic refers to, by id. */
  readonly #messages = new Map<number, { readonly record: StoredMessage; refs: number }>();
  readonly #retained = new Map<string, number>();
  /**
   * Messages that may be referred to no more: checked once the current task is done, since a
   * message taken from one session may be given to another in the same task.
   */
  #unreferenced: number[] = [];
  /** Client ids whose copy changed this turn. */
  readonly #dirty = new Set<string>();
  /** Client ids whose copy is to go (the session ended). */
  readonly #ended = new Set<string>();
  /** Client ids whose copy is to be written (or deleted) once Redis is back. */
  readonly #outdated = new Set<string>();
  #sent = 0;
  #confirmed = 0;
  #holds: { seq: number; flush: () => void }[] = [];
  #writes = 0;
  #failedWrites = 0;
  #lastWriteMs = 0;
  #writeMsTotal = 0;
  #failureLogged = false;
  #unknownLogged = false;

  constructor(readonly logger: Logger) {}

  /** Writes go to `redis`, fenced by the leases of `leases`, from now on. */
  bind(redis: Redis, leases: Leases): void {
    this.#redis = redis;
    this.#leases = leases;
  }

  get pending(): boolean {
    return this.#dirty.size > 0 || this.#ended.size > 0;
  }

  #touch(clientId: string): void {
    const was = this.pending;
    this.#dirty.add(clientId);
    if (!was) this.onPending?.();
  }

  sessionSaved(session: StoredSession): void {
    // A session that ends with its connection has no copy: clean sessions cost nothing here.
    if (session.expiryMs === 0) return;
    const copy = this.#copies.get(session.clientId);
    if (copy) {
      copy.record = session;
      copy.sessionChanged = true;
    } else this.#copies.set(session.clientId, newCopy(session));
    this.#touch(session.clientId);
  }

  sessionEnded(clientId: string): void {
    const copy = this.#copies.get(clientId);
    if (!copy) return;
    for (const d of copy.deliveries.values()) this.#unref(d.message.id);
    this.#copies.delete(clientId);
    const was = this.pending;
    this.#dirty.delete(clientId);
    this.#ended.add(clientId);
    if (!was) this.onPending?.();
  }

  willSaved(): void {}

  willCleared(): void {}

  subscriptionAdded(subscription: StoredSubscription): void {
    const copy = this.#copies.get(subscription.clientId);
    if (!copy) return;
    const order = copy.subscriptions.get(subscription.filter)?.order ?? copy.order++;
    copy.subscriptions.set(subscription.filter, { order, options: subscription.options });
    copy.changedSubscriptions.add(subscription.filter);
    this.#touch(subscription.clientId);
  }

  subscriptionRemoved(clientId: string, filter: string): void {
    const copy = this.#copies.get(clientId);
    if (!copy?.subscriptions.delete(filter)) return;
    copy.changedSubscriptions.add(filter);
    this.#touch(clientId);
  }

  messageStored(message: StoredMessage): void {
    this.#messages.set(message.id, { record: message, refs: 0 });
    this.#mayDrop(message.id);
  }

  deliveryAdded(delivery: StoredDelivery): void {
    const message = this.#messages.get(delivery.messageId);
    if (message) message.refs++;
    const copy = this.#copies.get(delivery.clientId);
    if (!copy) return;
    if (!message) {
      // A message no longer referred to when it was given again (after an asynchronous topic
      // check): the copy goes without it rather than hold what it cannot write.
      if (!this.#unknownLogged) {
        this.#unknownLogged = true;
        this.logger.warn(
          `cluster: message ${delivery.messageId} for ${delivery.clientId} was no longer kept ` +
            `for the session copies; the copy in Redis lacks it (logged once)`,
        );
      }
      return;
    }
    const id = delivery.seq;
    copy.deliveries.set(id, { id, record: { ...delivery }, message: message.record });
    copy.seqs.set(delivery.seq, id);
    copy.changedDeliveries.set(id, true);
    this.#touch(delivery.clientId);
  }

  deliverySent(clientId: string, oldSeq: number, seq: number, packetId: number): void {
    this.#moved(clientId, oldSeq, seq, (d) => ({ ...d, seq, packetId }));
  }

  deliveryReleased(clientId: string, oldSeq: number, seq: number): void {
    this.#moved(clientId, oldSeq, seq, (d) => ({ ...d, seq, released: true }));
  }

  #moved(
    clientId: string,
    oldSeq: number,
    seq: number,
    change: (d: StoredDelivery) => StoredDelivery,
  ): void {
    const copy = this.#copies.get(clientId);
    const id = copy?.seqs.get(oldSeq);
    if (!copy || id === undefined) return;
    const delivery = copy.deliveries.get(id)!;
    delivery.record = change(delivery.record);
    copy.seqs.delete(oldSeq);
    copy.seqs.set(seq, id);
    if (!copy.changedDeliveries.has(id)) copy.changedDeliveries.set(id, false);
    this.#touch(clientId);
  }

  deliveryRemoved(clientId: string, seq: number, messageId: number): void {
    this.#unref(messageId);
    const copy = this.#copies.get(clientId);
    const id = copy?.seqs.get(seq);
    if (!copy || id === undefined) return;
    copy.seqs.delete(seq);
    copy.deliveries.delete(id);
    copy.changedDeliveries.set(id, true);
    this.#touch(clientId);
  }

  retainedSet(topic: string, messageId: number): void {
    const before = this.#retained.get(topic);
    if (before === messageId) return;
    if (before !== undefined) this.#unref(before);
    this.#retained.set(topic, messageId);
    const message = this.#messages.get(messageId);
    if (message) message.refs++;
  }

  retainedCleared(topic: string): void {
    const before = this.#retained.get(topic);
    if (before === undefined) return;
    this.#retained.delete(topic);
    this.#unref(before);
  }

  receiveAdded(clientId: string, packetId: number): void {
    const copy = this.#copies.get(clientId);
    if (!copy) return;
    copy.receive.add(packetId);
    copy.changedReceive.add(packetId);
    this.#touch(clientId);
  }

  receiveRemoved(clientId: string, packetId: number): void {
    const copy = this.#copies.get(clientId);
    if (!copy?.receive.delete(packetId)) return;
    copy.changedReceive.add(packetId);
    this.#touch(clientId);
  }

  #unref(messageId: number): void {
    const message = this.#messages.get(messageId);
    if (message && --message.refs <= 0) this.#mayDrop(messageId);
  }

  #mayDrop(messageId: number): void {
    if (this.#unreferenced.push(messageId) === 1) queueMicrotask(this.#drop);
  }

  readonly #drop = (): void => {
    for (const id of this.#unreferenced) {
      const message = this.#messages.get(id);
      if (message && message.refs <= 0) this.#messages.delete(id);
    }
    this.#unreferenced = [];
  };

  /** The copies are Redis's; a node starts from its own store (the tee loads that). */
  load(): StoredState {
    return emptyState();
  }

  /**
   * Sends what changed this turn and resolves at once: what waits for Redis's confirmation is
   * held by the cluster's `holdOutput`, not by the commit. Never rejects.
   */
  commit(): Promise<void> {
    this.#send();
    return Promise.resolve();
  }

  /**
   * One script per session, in one pipeline. Never throws: a failure leaves the copies to be
   * written whole once Redis is back.
   */
  #send(): void {
    if (!this.pending) return;
    const redis = this.#redis;
    const leases = this.#leases;
    if (!redis || !leases || redis.status !== "ready") return this.#outdate();
    const writes: SessionWrite[] = [];
    const copies: (Copy | undefined)[] = [];
    for (const clientId of this.#ended) {
      const epoch = leases.epochOf(clientId);
      if (epoch === undefined) continue;
      writes.push({ clientId, epoch, mode: "end", expireAt: "", set: [], deleted: [] });
      copies.push(undefined);
    }
    this.#ended.clear();
    const frames = new Map<number, Buffer>();
    for (const clientId of this.#dirty) {
      const copy = this.#copies.get(clientId)!;
      const epoch = leases.epochOf(clientId);
      if (epoch === undefined || copy.fenced === epoch) {
        // No lease here (Redis was away at its CONNECT, or another node took it): written
        // whole once a claim here gives it one.
        if (epoch === undefined) copy.written = undefined;
        clearChanges(copy);
        continue;
      }
      // Also under a new claim here (a reconnect): parts, unless another node wrote it since.
      writes.push(
        copy.written === undefined
          ? this.#whole(copy, epoch, frames)
          : this.#part(copy, epoch, frames, copy.written),
      );
      copies.push(copy);
      clearChanges(copy);
      copy.written = epoch;
    }
    this.#dirty.clear();
    if (writes.length === 0) return;
    const seq = ++this.#sent;
    const started = performance.now();
    leases.writeSessions(writes).then((results) => {
      this.#writes++;
      this.#lastWriteMs = performance.now() - started;
      this.#writeMsTotal += this.#lastWriteMs;
      this.#failureLogged = false;
      let missing = false;
      for (const [i, result] of results.entries()) {
        const copy = copies[i];
        if (!copy) continue;
        if (result === "fenced") copy.fenced = writes[i].epoch;
        else if (result === "missing") {
          // Expired in Redis, lost with it, or written by another node since: written whole.
          copy.written = undefined;
          if (this.#copies.get(writes[i].clientId) !== copy) continue;
          this.#dirty.add(writes[i].clientId);
          missing = true;
        }
      }
      if (missing) {
        // Now, and what waited for the part waits for the whole.
        this.#send();
        for (const hold of this.#holds) if (hold.seq <= seq) hold.seq = this.#sent;
      }
      this.#settle(seq);
    }, (error) => {
      this.#failedWrites++;
      for (const w of writes) {
        const copy = this.#copies.get(w.clientId);
        if (copy) copy.written = undefined;
        this.#outdated.add(w.clientId);
      }
      if (!this.#failureLogged) {
        this.#failureLogged = true;
        const why = error instanceof Error ? error.message : String(error);
        this.logger.warn(
          `cluster: cannot write session copies to Redis (${why}); they are written whole ` +
            `once it is back`,
        );
      }
      this.#settle(seq);
    });
  }

  /** Redis is away: what changed is written whole once it is back, and nothing waits for it. */
  #outdate(): void {
    for (const clientId of this.#dirty) {
      const copy = this.#copies.get(clientId)!;
      copy.written = undefined;
      clearChanges(copy);
      this.#outdated.add(clientId);
    }
    for (const clientId of this.#ended) this.#outdated.add(clientId);
    this.#dirty.clear();
    this.#ended.clear();
  }

  #whole(copy: Copy, epoch: number, frames: Map<number, Buffer>): SessionWrite {
    const set: [string, string | Buffer][] = sessionFields(copy.record);
    for (const [filter, { order, options }] of copy.subscriptions) {
      set.push([subscriptionField(filter), subscriptionValue(order, options)]);
    }
    for (const packetId of copy.receive) set.push([receiveField(packetId), "1"]);
    for (const d of copy.deliveries.values()) {
      set.push([deliveryField(d.id), deliveryValue(d.record)]);
      set.push([messageField(d.id), this.#frame(d.message, frames)]);
    }
    const clientId = copy.record.clientId;
    return { clientId, epoch, mode: "full", expireAt: expireAt(copy.record), set, deleted: [] };
  }

  /** The changes since the copy was written, last written whole under epoch `after`. */
  #part(copy: Copy, epoch: number, frames: Map<number, Buffer>, after: number): SessionWrite {
    const set: [string, string | Buffer][] = copy.sessionChanged ? sessionFields(copy.record) : [];
    const deleted: string[] = [];
    for (const filter of copy.changedSubscriptions) {
      const sub = copy.subscriptions.get(filter);
      if (sub) set.push([subscriptionField(filter), subscriptionValue(sub.order, sub.options)]);
      else deleted.push(subscriptionField(filter));
    }
    for (const packetId of copy.changedReceive) {
      if (copy.receive.has(packetId)) set.push([receiveField(packetId), "1"]);
      else deleted.push(receiveField(packetId));
    }
    for (const [id, withMessage] of copy.changedDeliveries) {
      const d = copy.deliveries.get(id);
      if (!d) {
        deleted.push(deliveryField(id), messageField(id));
        continue;
      }
      set.push([deliveryField(id), deliveryValue(d.record)]);
      if (withMessage) set.push([messageField(id), this.#frame(d.message, frames)]);
    }
    return {
      clientId: copy.record.clientId,
      epoch,
      mode: "part",
      after,
      expireAt: copy.sessionChanged ? expireAt(copy.record) : "",
      set,
      deleted,
    };
  }

  /** A message's frame, encoded once per commit however many copies hold it. */
  #frame(message: StoredMessage, frames: Map<number, Buffer>): Buffer {
    let frame = frames.get(message.id);
    if (!frame) {
      const bytes = encodeFrame({
        seq: 0,
        message: messageFromRecord(message),
        plain: false,
        shares: [],
      });
      frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      frames.set(message.id, frame);
    }
    return frame;
  }

  #settle(seq: number): void {
    if (seq > this.#confirmed) this.#confirmed = seq;
    if (this.#holds.length === 0) return;
    let n = 0;
    while (n < this.#holds.length && this.#holds[n].seq <= this.#confirmed) n++;
    for (const { flush } of this.#holds.splice(0, n)) flush();
  }

  /**
   * Whether `flush` must wait for the copies written so far: until Redis has confirmed them (or
   * failed; then they wait here to be written again, as the outbox's messages do).
   */
  holdOutput(flush: () => void): boolean {
    if (this.#confirmed >= this.#sent) return false;
    this.#holds.push({ seq: this.#sent, flush });
    return true;
  }

  /** The link is back: the copies that changed meanwhile are written whole. */
  linkUp(): void {
    if (this.#outdated.size === 0) return;
    const was = this.pending;
    for (const clientId of this.#outdated) {
      if (this.#copies.has(clientId)) this.#dirty.add(clientId);
      else this.#ended.add(clientId);
    }
    this.#outdated.clear();
    if (!was && this.pending) this.onPending?.();
  }

  /** The link is down: what it held may go, as the outbox's buffered messages do. */
  linkDown(): void {
    this.#confirmed = this.#sent;
    this.#settle(this.#sent);
  }

  figures(): StoreFigures {
    return {
      commits: this.#writes,
      failedCommits: this.#failedWrites,
      pendingRecords: this.#dirty.size + this.#ended.size + this.#outdated.size,
      lastCommitMs: this.#lastWriteMs,
      commitMsTotal: this.#writeMsTotal,
      bytes: 0,
    };
  }

  summary(): StoreSummary {
    let subscriptions = 0;
    let deliveries = 0;
    for (const copy of this.#copies.values()) {
      subscriptions += copy.subscriptions.size;
      deliveries += copy.deliveries.size;
    }
    return {
      sessions: this.#copies.size,
      subscriptions,
      messages: this.#messages.size,
      deliveries,
      retained: this.#retained.size,
      bytes: 0,
    };
  }

  /** Writes what changed and waits for Redis to confirm, at most `ms`. */
  async flush(ms: number): Promise<void> {
    this.#send();
    const until = Date.now() + ms;
    while (this.#confirmed < this.#sent && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Nothing more is written; what waited for a write goes. */
  close(): Promise<void> {
    this.#redis = undefined;
    this.#leases = undefined;
    this.linkDown();
    return Promise.resolve();
  }
}
