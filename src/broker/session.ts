/**
 * A client's session: subscriptions, QoS 1/2 messages in flight and queued, and QoS 2 receive
 * state. A session with clean-session 0 (5.0: a session expiry interval) outlives its connection;
 * delivery to it goes through here whether or not a client is connected.
 *
 * @module
 */
import { PacketType, type QoS, type Will } from "../protocol/packets.ts";
import type { RoutedMessage } from "./message.ts";
import type { RetainedEntry } from "./retained.ts";
import type { Client } from "./client.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { Limits } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Stats } from "./stats.ts";
import type { Subscriber, SubscriptionOptions } from "./subscriptions.ts";

/** Least time between two log lines about drops of one kind for one session. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** The Session Expiry Interval that means "never" (MQTT 5.0 3.1.2.11.2). */
const NEVER = 0xffffffff;

/**
 * A 5.0 Session Expiry Interval (seconds) as {@link Session.expiryMs}, capped by `maxMs`
 * (`max-session-expiry`; 0: no cap).
 */
export function sessionExpiryMs(interval: number, maxMs: number): number {
  const asked = interval === NEVER ? Infinity : interval * 1000;
  return maxMs > 0 && asked > maxMs ? maxMs : asked;
}

/** A QoS 1/2 message for one session, in flight or queued. */
export interface Outgoing {
  message: RoutedMessage;
  qos: 1 | 2;
  retain: boolean;
  packetId: number;
  /** QoS 2: PUBREC received and PUBREL sent, waiting for PUBCOMP. */
  released: boolean;
  /**
   * In flight since an earlier connection and not sent again on this one: its window (the
   * client's Receive Maximum) had no room when the session resumed.
   */
  held?: boolean;
}

/** What sessions share with the broker. */
export interface SessionContext {
  readonly limits: Limits;
  readonly stats: Stats;
  readonly logger: Logger;
  /** Whether the topic plugins let the session's owner receive `message` (true when checks are off). */
  mayReceive(session: Session, message: RoutedMessage): boolean | Promise<boolean>;
}

/** The retained messages still to send for one new subscription. */
interface RetainedCursor {
  /** The subscription's QoS. */
  readonly qos: QoS;
  readonly entries: Iterator<RetainedEntry>;
  /** Found and not sent yet, for want of room. */
  next: RetainedEntry | undefined;
}

/** A FIFO with O(1) shift, since session queues drain from the front. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

/** One client id's session. */
export class Session implements Subscriber {
  /** The connected client, if any. */
  client: Client | undefined;
  /** Who the session belongs to, as of its last connection (plugins judge offline delivery by it). */
  info: ClientInfo | undefined;
  /** By filter; the same objects the subscription tree holds. */
  readonly subscriptions: Map<string, SubscriptionOptions> = new Map();
  /**
   * The will of the connection attached now, if it announced one. It lives here, not on the
   * connection, because a 5.0 will delay can outlast the connection.
   */
  will: Will | undefined;
  /**
   * PUBLISHes in send order, PUBRELs in PUBREC order: a Map iterates in insertion order, which is
   * what a resend needs.
   */
  readonly inflight: Map<number, Outgoing> = new Map();
  readonly queue: Fifo<Outgoing> = new Fifo();
  queuedBytes = 0;
  /** QoS 2 packet identifiers received and not yet released by PUBREL. */
  readonly awaitingRelease: Set<number> = new Set();
  /** Scratch for de-duplicating overlapping subscriptions during one routing. */
  routeMark = 0;
  routeQos: QoS = 0;
  /** The arrival number of the CONNECT last attached to it (see `Broker.attach`). */
  connectSeq = 0;
  /**
   * How long the session outlives its connection, in ms: 0 ends it with the connection (3.1.1
   * clean session, 5.0 session expiry 0), Infinity never. Set by every CONNECT (MQTT 5 clients
   * choose their own) and by a 5.0 DISCONNECT that changes it.
   */
  expiryMs: number;
  /** By subscription filter, in the order the subscriptions were made. */
  readonly #retained = new Map<string, RetainedCursor>();
  /** A topic plugin is deciding on a retained message: the others wait, to keep their order. */
  #judging = false;
  #nextPacketId = 1;
  /** How many messages in {@link Session.inflight} are {@link Outgoing.held}. */
  #held = 0;
  /** Until when further drops go unlogged, for QoS 0 drops and for queue drops. */
  #quietUntil: [number, number] = [0, 0];

  constructor(
    readonly clientId: string,
    expiryMs: number,
    readonly context: SessionContext,
  ) {
    this.expiryMs = expiryMs;
  }

  /**
   * Whether one more QoS 1/2 PUBLISH may go to `client`: never more in flight (sent and not
   * completed, QoS 2 until PUBCOMP) than `max-inflight-messages` nor than the client's Receive
   * Maximum (MQTT 5.0 4.9), counting only what was sent on this connection.
   */
  #room(client: Client): boolean {
    const { maxInflightMessages } = this.context.limits;
    const receive = client.codec.receiveMaximum;
    return this.inflight.size - this.#held <
      (receive < maxInflightMessages ? receive : maxInflightMessages);
  }

  #allocatePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** Delivers a message at `qos` (already the minimum of publish and subscription). */
  deliver(message: RoutedMessage, qos: QoS, retain: boolean): void {
    const { stats } = this.context;
    if (qos === 0) {
      const client = this.client;
      // QoS 0 is never queued for an offline session.
      if (!client) return;
      const bytes = message.encode(client.codec.version, 0, retain, 0);
      if (!client.canSend(bytes.length)) {
        stats.droppedQos0++;
        this.#noteDrop(0, "QoS 0", "its connection is not taking bytes fast enough");
        return;
      }
      client.send(bytes);
      stats.publishSent++;
      return;
    }
    const outgoing: Outgoing = { message, qos, retain, packetId: 0, released: false };
    if (
      this.client && this.queue.length === 0 && this.#held === 0 && this.#room(this.client) &&
      this.client.canSend(message.encodedLength(this.client.codec.version, qos))
    ) {
      this.#transmit(outgoing, this.client);
      return;
    }
    this.#enqueue(outgoing);
  }

  #enqueue(outgoing: Outgoing): void {
    const { maxQueuedMessages, maxQueuedBytes } = this.context.limits;
    const size = outgoing.message.size;
    if (
      this.queue.length >= maxQueuedMessages ||
      (maxQueuedBytes > 0 && this.queuedBytes + size > maxQueuedBytes)
    ) {
      this.context.stats.droppedQueued++;
      this.#noteDrop(1, `QoS ${outgoing.qos}`, "its queue is full");
      return;
    }
    outgoing.message.own();
    this.queue.push(outgoing);
    this.queuedBytes += size;
  }

  /**
   * Logs a drop at most once per {@link DROP_LOG_INTERVAL_MS} per kind: a flood must not flood
   * the log too (the counters in `$SYS` have every drop). Time, not a "run" of drops, because a
   * client at its bound alternates drops and sends, and a run would end at every send.
   */
  #noteDrop(kind: 0 | 1, what: string, why: string): void {
    const now = Date.now();
    if (now < this.#quietUntil[kind]) return;
    this.#quietUntil[kind] = now + DROP_LOG_INTERVAL_MS;
    this.context.logger.warn(`dropping ${what} messages for ${this.clientId}: ${why}`);
  }

  #transmit(outgoing: Outgoing, client: Client): void {
    outgoing.packetId = this.#allocatePacketId();
    this.inflight.set(outgoing.packetId, outgoing);
    client.send(
      outgoing.message.encode(
        client.codec.version,
        outgoing.qos,
        outgoing.retain,
        outgoing.packetId,
      ),
    );
    this.context.stats.publishSent++;
  }

  /** Moves queued messages into flight while the window and the connection allow. */
  pump(): void {
    const client = this.client;
    if (!client) return;
    if (this.#held > 0 && !this.#sendHeld(client)) return;
    let next: Outgoing | undefined;
    while (
      this.#room(client) && (next = this.queue.peek()) &&
      client.canSend(next.message.encodedLength(client.codec.version, next.qos))
    ) {
      this.queue.shift();
      this.queuedBytes -= next.message.size;
      this.#transmit(next, client);
    }
    if (this.#retained.size > 0) this.#pumpRetained(client);
  }

  /**
   * Sends the retained messages that `entries` finds for a new subscription to `filter` at the
   * pace the client takes them: QoS 0 within the output bound, QoS 1/2 within the in-flight window
   * (the queue is left to live messages). Sending them all at once would drop what does not fit.
   * Replaces what an earlier subscription to the same filter had left to send.
   */
  sendRetained(filter: string, qos: QoS, entries: Iterator<RetainedEntry>): void {
    this.#retained.delete(filter);
    this.#retained.set(filter, { qos, entries, next: undefined });
    this.pump();
  }

  /** Stops sending the retained messages of a subscription to `filter` (it was unsubscribed). */
  cancelRetained(filter: string): void {
    this.#retained.delete(filter);
  }

  #pumpRetained(client: Client): void {
    for (const [filter, cursor] of this.#retained) {
      for (;;) {
        if (this.#judging) return;
        if (!cursor.next) {
          const step = cursor.entries.next();
          if (step.done) break;
          cursor.next = step.value;
        }
        const entry = cursor.next;
        const message = entry.message;
        if (!message) {
          cursor.next = undefined;
          continue;
        }
        const qos = message.qos < cursor.qos ? message.qos : cursor.qos;
        const room = qos === 0 ||
          (this.queue.length === 0 && this.#room(client));
        if (!room || !client.canSend(message.encodedLength(client.codec.version, qos))) return;
        cursor.next = undefined;
        const verdict = this.context.mayReceive(this, message);
        if (verdict === true) this.deliver(message, qos, true);
        else if (verdict !== false) return this.#judge(verdict, filter, cursor, entry, qos);
      }
      this.#retained.delete(filter);
    }
  }

  #judge(
    verdict: Promise<boolean>,
    filter: string,
    cursor: RetainedCursor,
    entry: RetainedEntry,
    qos: QoS,
  ): void {
    const message = entry.message!;
    this.#judging = true;
    verdict.catch(() => false).then((allowed) => {
      this.#judging = false;
      // Unsubscribed, resubscribed or ended meanwhile: that cursor is gone. A message replaced
      // meanwhile reached this subscriber live, so the old one would only be outdated.
      if (allowed && this.#retained.get(filter) === cursor && entry.message === message) {
        this.deliver(message, qos, true);
      }
      this.pump();
    });
  }

  /**
   * After a reconnect: everything unacknowledged goes again, PUBLISH with DUP set, in order
   * (MQTT 5.0 4.4). The new connection's window may be smaller than what is in flight: the
   * PUBLISHes beyond it are held and go, in order, as acknowledgements make room (4.9: the
   * send quota starts afresh with each connection). PUBRELs always go: they send no PUBLISH.
   */
  resend(): void {
    const client = this.client;
    if (!client) return;
    const { codec } = client;
    this.#held = 0;
    for (const outgoing of this.inflight.values()) {
      outgoing.held = !outgoing.released;
      if (outgoing.held) this.#held++;
    }
    for (const outgoing of this.inflight.values()) {
      const { message, qos, retain, packetId } = outgoing;
      if (outgoing.released) client.send(codec.ack(PacketType.PUBREL, packetId));
      else if (this.#room(client)) {
        outgoing.held = false;
        this.#held--;
        client.send(message.encode(codec.version, qos, retain, packetId, true));
      }
    }
    this.pump();
  }

  /** Sends held PUBLISHes while there is room; returns whether none is left. */
  #sendHeld(client: Client): boolean {
    const { version } = client.codec;
    for (const outgoing of this.inflight.values()) {
      if (!outgoing.held) continue;
      const { message, qos, retain, packetId } = outgoing;
      if (!this.#room(client) || !client.canSend(message.encodedLength(version, qos))) return false;
      outgoing.held = false;
      this.#held--;
      client.send(message.encode(version, qos, retain, packetId, true));
      if (this.#held === 0) break;
    }
    return true;
  }

  /** PUBACK or PUBCOMP: the message is done. */
  complete(packetId: number, qos: 1 | 2): void {
    const outgoing = this.inflight.get(packetId);
    if (!outgoing || outgoing.qos !== qos || (qos === 2 && !outgoing.released)) return;
    if (outgoing.held) this.#held--;
    this.inflight.delete(packetId);
    this.pump();
  }

  /**
   * PUBREC: returns whether the packet identifier was a QoS 2 message in flight. The message moves
   * to the end of {@link Session.inflight}, so that a resend sends PUBRELs in PUBREC order (4.6).
   */
  received(packetId: number): boolean {
    const outgoing = this.inflight.get(packetId);
    if (!outgoing || outgoing.qos !== 2) return false;
    if (!outgoing.released) {
      // A PUBREC for a held message: the client had it after all, so PUBREL replaces the resend.
      if (outgoing.held) {
        outgoing.held = false;
        this.#held--;
      }
      outgoing.released = true;
      this.inflight.delete(packetId);
      this.inflight.set(packetId, outgoing);
    }
    return true;
  }

  /** Forgets everything in flight and queued (the session ends). */
  clear(): void {
    this.inflight.clear();
    this.#held = 0;
    this.queue.clear();
    this.queuedBytes = 0;
    this.awaitingRelease.clear();
    this.#retained.clear();
    this.will = undefined;
  }
}
