/**
 * Messages to other nodes: collected per target while one read of the network is routed, then
 * one batch per target: QoS 1/2 ones appended to the target's inbox stream (XADD), QoS 0 ones
 * published on its channel. A QoS 1/2 batch is kept after XADD until the target says it has read
 * it, so that a Redis that restarts empty loses nothing: the batches go again, and the target
 * drops what it has seen by their sequence numbers. While Redis is away batches wait, in order,
 * up to `max-buffered-messages` messages; past that new ones are dropped and counted.
 *
 * Flow control: a target that reads more slowly than publishers here send (its subscribers are
 * backed up, so its inbox stopped) leaves a growing unread backlog. Past a quarter of
 * `max-buffered-messages` for one target (or past half of it for all), the acknowledgements of the publishers whose messages
 * go there are held until it is back under an eighth, so that they are slowed rather than their
 * messages dropped. How far each target has read is polled from Redis every few ms while its
 * backlog is past the eighth, not per message.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import { encodeBatch } from "./frame.ts";
import { direct, inbox, offsets } from "./keys.ts";

/** Cross-node figures, for the log, `$SYS` and tests. */
export interface ClusterCounters {
  /** Messages handed to Redis for other nodes. */
  messagesOut: number;
  /** Messages from other nodes delivered here. */
  messagesIn: number;
  /** Messages from other nodes seen before (sent again after a Redis outage), not delivered. */
  duplicates: number;
  /** Messages for other nodes dropped: the buffer was full, or QoS 0 while Redis was away. */
  dropped: number;
}

interface Batch {
  readonly target: string;
  readonly first: number;
  readonly last: number;
  readonly count: number;
  /** Of `count`, the markers: frames that are not messages, left out of `messages/out`. */
  readonly markers: number;
  readonly bytes: Uint8Array;
}

interface Turn {
  reliable: Uint8Array[];
  first: number;
  last: number;
  markers: number;
  direct: Uint8Array[];
}

function bySeq(a: Batch, b: Batch): number {
  return a.first - b.first;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** How long a failed send waits before it is tried again when the link seems up, in ms. */
const RETRY_MS = 500;
/** How often targets behind are asked how far they have read, in ms. */
const FLOW_POLL_MS = 5;

/** Acknowledgements waiting until every one of `targets` has caught up. */
interface FlowHold {
  readonly targets: readonly string[];
  readonly flush: () => void;
}

/**
 * Bytes written to Redis and not yet on the wire past which QoS 0 messages are dropped (and
 * counted) rather than queued: they are allowed to be lost, and an overloaded link must not
 * take the broker's memory. QoS 1/2 ones are not dropped; the acknowledgements they hold slow
 * their publishers instead.
 */
const MAX_WRITE_BACKLOG = 8 * 1024 * 1024;

/** The sending side of the cluster's traffic. */
export class Outbox {
  #seq = 0;
  /** The last sequence number given to a QoS 1/2 message. */
  #lastReliable = 0;
  #turn = new Map<string, Turn>();
  #scheduled = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Built, waiting to be sent, in sequence order. */
  #queue: Batch[] = [];
  /** Sent, waiting for Redis to answer. */
  readonly #inflight = new Set<Batch>();
  /** In Redis, kept until the target has read them; by target, in order. */
  readonly #unread = new Map<string, Batch[]>();
  /** Messages in every batch above and in the current turn, against the bound. */
  #messages = 0;
  /** A send failed: nothing more goes until every send in flight has been answered. */
  #settling = false;
  #holds: { seq: number; flush: () => void }[] = [];
  /** By target: messages for it not yet known to be read, wherever they wait. */
  readonly #backlog = new Map<string, number>();
  /** The targets of the message being added whose backlog is past the bound. */
  #congested: string[] = [];
  #flowHolds: FlowHold[] = [];
  #poll: ReturnType<typeof setTimeout> | undefined;
  #polling = false;
  /** A target's backlog past which publishers are held, and under which they go again. */
  readonly #flowHigh: number;
  readonly #flowLow: number;
  #droppedLogged = false;
  #closed = false;

  constructor(
    readonly redis: Redis,
    readonly origin: string,
    readonly maxMessages: number,
    readonly counters: ClusterCounters,
    readonly logger: Logger,
  ) {
    this.#flowHigh = Math.max(1, Math.floor(maxMessages / 4));
    this.#flowLow = Math.floor(this.#flowHigh / 2);
  }

  /** Messages waiting to be sent or to be read by their target. */
  get buffered(): number {
    return this.#messages;
  }

  /**
   * Queues one encoded frame for `target`; `seq` comes from {@link Outbox.nextSeq}. A `marker`
   * goes reliably like a message and is not counted as one.
   */
  add(target: string, frame: Uint8Array, seq: number, reliable: boolean, marker = false): void {
    if (this.#closed) return;
    let turn = this.#turn.get(target);
    if (!turn) {
      this.#turn.set(target, turn = { reliable: [], first: 0, last: 0, markers: 0, direct: [] });
    }
    if (!reliable) {
      if ((this.redis.stream?.writableLength ?? 0) > MAX_WRITE_BACKLOG) {
        this.counters.dropped++;
        return;
      }
      turn.direct.push(frame);
      this.#schedule();
      return;
    }
    if (this.#messages >= this.maxMessages) {
      this.counters.dropped++;
      if (!this.#droppedLogged) {
        this.#droppedLogged = true;
        this.logger.warn(
          `cluster.max-buffered-messages ${this.maxMessages} reached: further messages to other ` +
            `nodes are dropped while Redis is away or they do not read (logged once; $SYS counts each)`,
        );
      }
      return;
    }
    this.#messages++;
    const backlog = (this.#backlog.get(target) ?? 0) + 1;
    this.#backlog.set(target, backlog);
    if (backlog > this.#flowLow) {
      // While Redis is away the buffer takes the messages, as documented: nobody is held.
      // Several targets behind at once must not fill the buffer either.
      const behind = backlog >= this.#flowHigh || this.#messages >= this.maxMessages / 2;
      if (behind && this.redis.status === "ready") this.#congested.push(target);
      this.#schedulePoll();
    }
    if (turn.reliable.length === 0) turn.first = seq;
    turn.last = seq;
    if (marker) turn.markers++;
    turn.reliable.push(frame);
    this.#lastReliable = seq;
    this.#schedule();
  }

  /** The next sequence number (one per message, whatever its targets). */
  nextSeq(): number {
    if (this.#congested.length > 0) this.#congested = [];
    return ++this.#seq;
  }

  /**
   * For the message added last: a hold for its publisher's acknowledgement when one of its
   * targets is too far behind; the hold lets `flush` go once they have caught up.
   */
  flowHold(): ((flush: () => void) => void) | undefined {
    if (this.#congested.length === 0) return undefined;
    const targets = this.#congested;
    this.#congested = [];
    return (flush) => {
      if (this.#closed) return flush();
      this.#flowHolds.push({ targets, flush });
      this.#schedulePoll();
    };
  }

  /**
   * Whether `flush` must wait for QoS 1/2 messages queued so far: until Redis has them, or until
   * they wait in the buffer while Redis is away.
   */
  holdOutput(flush: () => void): boolean {
    if (this.#firstUnsafe() > this.#lastReliable) return false;
    this.#holds.push({ seq: this.#lastReliable, flush });
    return true;
  }

  /** `target` has read what `origin` sent it up to `seq`: those batches need not be kept. */
  read(target: string, seq: number): void {
    const unread = this.#unread.get(target);
    if (!unread) return;
    let n = 0;
    let count = 0;
    while (n < unread.length && unread[n].last <= seq) count += unread[n++].count;
    if (n === 0) return;
    this.#messages -= count;
    unread.splice(0, n);
    if (unread.length === 0) this.#unread.delete(target);
    const backlog = (this.#backlog.get(target) ?? 0) - count;
    if (backlog > 0) this.#backlog.set(target, backlog);
    else this.#backlog.delete(target);
    this.#releaseFlow();
  }

  /** The targets with batches they have not read yet. */
  get unreadTargets(): IterableIterator<string> {
    return this.#unread.keys();
  }

  /** `target` is gone: nothing more is kept or sent for it. */
  forget(target: string): void {
    for (const batch of this.#unread.get(target) ?? []) this.#messages -= batch.count;
    this.#unread.delete(target);
    const turn = this.#turn.get(target);
    if (turn) {
      this.#messages -= turn.reliable.length;
      this.#turn.delete(target);
    }
    const keep = this.#queue.filter((b) => b.target !== target);
    for (const b of this.#queue) if (b.target === target) this.#messages -= b.count;
    this.#queue = keep;
    this.#backlog.delete(target);
    this.#release();
    this.#releaseFlow();
  }

  /** Redis may have lost what it had (it restarted empty): every unread batch goes again. */
  resendUnread(): void {
    for (const batches of this.#unread.values()) this.#queue.push(...batches);
    this.#unread.clear();
    this.#queue.sort(bySeq);
    this.drain();
  }

  /** The link is down: what waits is buffered now, and the acknowledgements it held may go. */
  linkDown(): void {
    this.#release();
    for (const { flush } of this.#flowHolds.splice(0)) flush();
  }

  /** Sends what waits, if Redis can take it. */
  drain(): void {
    if (this.#settling || this.redis.status !== "ready") return;
    while (this.#queue.length > 0) this.#send(this.#queue.shift()!);
  }

  /** Sends what waits and waits for the answers, at most `ms`; then stops for good. */
  async close(ms: number): Promise<void> {
    this.#flushTurn();
    this.drain();
    const until = Date.now() + ms;
    while (this.#inflight.size > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.#closed = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#poll);
    this.#queue = [];
    this.#unread.clear();
    this.#backlog.clear();
    // Nothing more will be written: what was held goes now rather than never.
    for (const { flush } of this.#holds.splice(0)) flush();
    for (const { flush } of this.#flowHolds.splice(0)) flush();
  }

  /** Asks the targets behind how far they have read, in a few ms, unless that is under way. */
  #schedulePoll(): void {
    if (this.#poll !== undefined || this.#polling || this.#closed) return;
    this.#poll = setTimeout(() => {
      this.#poll = undefined;
      void this.#pollRead();
    }, FLOW_POLL_MS);
  }

  async #pollRead(): Promise<void> {
    if (this.redis.status !== "ready") return;
    this.#polling = true;
    try {
      const behind = [...this.#backlog].filter(([, n]) => n > this.#flowLow).map(([t]) => t);
      const read = await Promise.all(
        behind.map((target) => this.redis.hget(offsets(target), this.origin)),
      );
      for (const [i, seq] of read.entries()) {
        if (seq !== null) this.read(behind[i], Number(seq));
      }
    } catch {
      // The link failed: the heartbeat's check and the next message ask again.
    } finally {
      this.#polling = false;
    }
    if (this.#flowHolds.length > 0 || this.#anyBehind()) this.#schedulePoll();
  }

  #anyBehind(): boolean {
    for (const n of this.#backlog.values()) if (n > this.#flowLow) return true;
    return false;
  }

  /** Lets out the held acknowledgements whose targets have caught up (or are gone). */
  #releaseFlow(): void {
    if (this.#flowHolds.length === 0) return;
    const waiting: FlowHold[] = [];
    const go: FlowHold[] = [];
    for (const hold of this.#flowHolds) {
      const behind = hold.targets.some((t) => (this.#backlog.get(t) ?? 0) > this.#flowLow);
      (behind ? waiting : go).push(hold);
    }
    if (go.length === 0) return;
    this.#flowHolds = waiting;
    for (const { flush } of go) flush();
  }

  /**
   * After the current task: what one read of the network routed goes as one batch per target. A
   * timer could wait for ever while a flood keeps the read loop busy in microtasks.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flushTurn());
  }

  #flushTurn(): void {
    this.#scheduled = false;
    const turns = this.#turn;
    if (turns.size === 0) return;
    this.#turn = new Map();
    const ready = this.redis.status === "ready";
    for (const [target, turn] of turns) {
      if (turn.direct.length > 0) {
        if (ready) {
          const bytes = asBuffer(encodeBatch(turn.direct));
          this.counters.messagesOut += turn.direct.length;
          this.redis.publish(direct(target), bytes).catch(() => {});
        } else this.counters.dropped += turn.direct.length;
      }
      if (turn.reliable.length > 0) {
        this.#queue.push({
          target,
          first: turn.first,
          last: turn.last,
          count: turn.reliable.length,
          markers: turn.markers,
          bytes: encodeBatch(turn.reliable),
        });
      }
    }
    this.drain();
    this.#release();
  }

  #send(batch: Batch): void {
    this.#inflight.add(batch);
    // No trimming: what waits in a stream is bounded by its senders' buffers, and trimming would
    // drop what was acknowledged.
    this.redis.xadd(
      inbox(batch.target),
      "*",
      "o",
      this.origin,
      "b",
      asBuffer(batch.bytes),
    ).then(
      () => {
        this.#inflight.delete(batch);
        if (this.#closed) return;
        this.counters.messagesOut += batch.count - batch.markers;
        let unread = this.#unread.get(batch.target);
        if (!unread) this.#unread.set(batch.target, unread = []);
        unread.push(batch);
        this.#settled();
      },
      () => {
        this.#inflight.delete(batch);
        if (this.#closed) return;
        // Answered or not, it goes again in order: the target drops it if it had it.
        this.#settling = true;
        this.#queue.push(batch);
        this.#queue.sort(bySeq);
        this.#settled();
      },
    );
  }

  #settled(): void {
    if (this.#inflight.size === 0 && this.#settling) {
      this.#settling = false;
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => this.drain(), RETRY_MS);
    }
    this.#release();
  }

  /** The first sequence number not yet safe: queued this turn, in flight, or waiting for the link. */
  #firstUnsafe(): number {
    let first = Infinity;
    for (const turn of this.#turn.values()) {
      if (turn.reliable.length > 0 && turn.first < first) first = turn.first;
    }
    for (const batch of this.#inflight) if (batch.first < first) first = batch.first;
    if (this.redis.status === "ready" && this.#queue.length > 0) {
      first = Math.min(first, this.#queue[0].first);
    }
    return first;
  }

  #release(): void {
    if (this.#holds.length === 0) return;
    const first = this.#firstUnsafe();
    let n = 0;
    while (n < this.#holds.length && this.#holds[n].seq < first) n++;
    if (n === 0) return;
    for (const { flush } of this.#holds.splice(0, n)) flush();
  }
}
