/**
 * A client's session: subscriptions, QoS 1/2 messages in flight and queued, and QoS 2 receive
 * state. A session with clean-session 0 (5.0: a session expiry interval) outlives its connection;
 * delivery to it goes through here whether or not a client is connected.
 *
 * @module
 */
import { Fifo } from "./fifo.ts";
import { PacketType, type ProtocolLevel, type QoS, type Will } from "../protocol/packets.ts";
import type { RoutedMessage } from "./message.ts";
import type { RetainedEntry } from "./retained.ts";
import type { Client } from "./client.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { Limits } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Stats } from "./stats.ts";
import type { Store } from "../store/types.ts";
import { awaitingAcks, sliceDue } from "../runtime/turn.ts";
import {
  type Room,
  ROOM_NOW,
  ROOM_QUEUE,
  type ShareGroup,
  type Subscriber,
  type SubscriptionOptions,
} from "./subscriptions.ts";

/** Least time between two log lines about drops of one kind for one session. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** A client that sent nothing for this long is not acknowledging: its queue asks for no slices. */
const SILENT_MS = 1000;

/** The Session Expiry Interval that means "never" (MQTT 5.0 3.1.2.11.2). */
const NEVER = 0xffffffff;

/** Puts the cluster number of `message` in `seen` (by origin), if it is the highest so far. */
export function noteSeen(seen: Map<string, number>, message: RoutedMessage): void {
  const origin = message.clusterOrigin;
  if (origin !== undefined && (seen.get(origin) ?? 0) < message.clusterSeq) {
    seen.set(origin, message.clusterSeq);
  }
}

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
  /** The identifiers of the subscriptions it matched, if any had one. */
  ids: readonly number[] | undefined;
  /** The shared subscription it was given to this session for, if any. */
  group: ShareGroup<Subscriber> | undefined;
  /** Its place in the store's order of the session's deliveries; 0 while not stored. */
  seq: number;
}

/** `message` for one session, not sent yet and not stored yet. */
export function queuedOutgoing(
  message: RoutedMessage,
  qos: 1 | 2,
  retain: boolean,
  ids: readonly number[] | undefined,
  group: ShareGroup<Subscriber> | undefined,
): Outgoing {
  return { message, qos, retain, packetId: 0, released: false, ids, group, seq: 0 };
}

/** What sessions share with the broker. */
export interface SessionContext {
  readonly limits: Limits;
  readonly stats: Stats;
  readonly logger: Logger;
  /** Whether the topic plugins let the session's owner receive `message` (true when checks are off). */
  mayReceive(session: Session, message: RoutedMessage): boolean | Promise<boolean>;
  /** Where durable sessions write their deliveries and receive state. */
  readonly store: Store;
  /** Stores `message` once (if not yet) and returns its store id. */
  storeMessage(message: RoutedMessage): number;
}

/** The retained messages still to send for one new subscription. */
interface RetainedCursor {
  /** The subscription's QoS. */
  readonly qos: QoS;
  /** The subscription's identifier, as the one-element list a PUBLISH carries. */
  readonly ids: readonly number[] | undefined;
  readonly entries: Iterator<RetainedEntry>;
  /** Found and not sent yet, for want of room. */
  next: RetainedEntry | undefined;
}

/** One client id's session. */
export class Session implements Subscriber {
  /** The connected client, if any. */
  client: Client | undefined;
  /** Who the session belongs to, as of its last connection (plugins judge offline delivery by it). */
  info: ClientInfo | undefined;
  /**
   * The will of the connection attached now, if it announced one. It lives here, not on the
   * connection, because a 5.0 will delay can outlast the connection.
   */
  will: Will | undefined;
  readonly queue: Fifo<Outgoing> = new Fifo();
  queuedBytes = 0;
  /** Messages dropped for it since it began, for every reason `#noteDrop` and `pump` count. */
  dropped = 0;
  /** Scratch for de-duplicating overlapping subscriptions during one routing. */
  routeMark = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined = undefined;
  /** Whether its state is written to the store: a store that keeps it, and it outlives connections. */
  durable = false;
  /**
   * Whether the store holds its will although it is not durable (it ends with its connection):
   * the will of a connection the broker's death ends.
   */
  willStored = false;
  /** The last {@link Outgoing.seq} given. */
  seq = 0;
  /** The arrival number of the CONNECT last attached to it (see `Broker.attach`). */
  connectSeq = 0;
  /**
   * In a cluster, by origin (see {@link RoutedMessage.clusterOrigin}): the last number of a
   * message completed here, or brought by a handover; what the session has seen, so that a node
   * it is handed to drops what it took in for it twice.
   */
  clusterSeen: Map<string, number> | undefined;
  /**
   * How long the session outlives its connection, in ms: 0 ends it with the connection (3.1.1
   * clean session, 5.0 session expiry 0), Infinity never. Set by every CONNECT (MQTT 5 clients
   * choose their own) and by a 5.0 DISCONNECT that changes it.
   */
  expiryMs: number;
  // Made on first use (see the getters): an empty Map is a good part of what an idle session
  // would cost, and most sessions never hold anything in flight, nor a retained cursor.
  #subscriptions: Map<string, SubscriptionOptions> | undefined;
  #inflight: Map<number, Outgoing> | undefined;
  #awaitingRelease: Set<number> | undefined;
  /** By subscription filter, in the order the subscriptions were made. */
  #retained: Map<string, RetainedCursor> | undefined;
  /** A topic plugin is deciding on a retained message: the others wait, to keep their order. */
  #judging = false;
  #nextPacketId = 1;
  /** How many messages in {@link Session.inflight} are {@link Outgoing.held}. */
  #held = 0;
  /** Until when further drops go unlogged: QoS 0 drops, queue drops, too-large drops. */
  #quietUntil: [number, number, number] | undefined;

  constructor(
    readonly clientId: string,
    expiryMs: number,
    readonly context: SessionContext,
  ) {
    this.expiryMs = expiryMs;
  }

  /** By filter; the same objects the subscription tree holds. */
  get subscriptions(): Map<string, SubscriptionOptions> {
    return this.#subscriptions ??= new Map();
  }

  /** How many subscriptions it has, without making {@link Session.subscriptions}. */
  get subscriptionCount(): number {
    return this.#subscriptions?.size ?? 0;
  }

  /**
   * PUBLISHes in send order, PUBRELs in PUBREC order: a Map iterates in insertion order, which is
   * what a resend needs.
   */
  get inflight(): Map<number, Outgoing> {
    return this.#inflight ??= new Map();
  }

  /** How many messages are in {@link Session.inflight}, without making it. */
  get inflightCount(): number {
    return this.#inflight?.size ?? 0;
  }

  /** QoS 2 packet identifiers received and not yet released by PUBREL. */
  get awaitingRelease(): Set<number> {
    return this.#awaitingRelease ??= new Set();
  }

  /**
   * Whether one more QoS 1/2 PUBLISH may go to `client`: never more in flight (sent and not
   * completed, QoS 2 until PUBCOMP) than `max-inflight-messages` nor than the client's Receive
   * Maximum (MQTT 5.0 4.9), counting only what was sent on this connection.
   */
  #room(client: Client): boolean {
    const { maxInflightMessages } = this.context.limits;
    const receive = client.codec.receiveMaximum;
    return this.inflightCount - this.#held <
      (receive < maxInflightMessages ? receive : maxInflightMessages);
  }

  #allocatePacketId(): number {
    for (;;) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.#inflight?.has(id)) return id;
    }
  }

  /**
   * Delivers a message at `qos` (already the minimum of publish and subscription), with the
   * identifiers `ids` of the subscriptions it matched; `group` is the shared subscription it was
   * chosen for.
   */
  deliver(
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    ids?: readonly number[],
    group?: ShareGroup<Subscriber>,
  ): void {
    if (qos === 0) {
      const client = this.client;
      // QoS 0 is never queued for an offline session.
      if (!client) return;
      const { codec } = client;
      if (codec.maximumPacketSize === 0 && codec.clientTopicAliasMaximum === 0) {
        // The common case, one shared encoding, looked up once.
        const bytes = message.encode(codec.version, 0, retain, 0, false, ids);
        if (!client.canSend(bytes.length)) return this.#dropQos0();
        client.send(bytes);
        this.#sent(codec.version, 0, bytes.length);
        return;
      }
      if (!client.canSend(message.encodedLength(codec.version, 0, ids))) return this.#dropQos0();
      const sent = this.#publish(client, message, 0, retain, 0, false, ids);
      if (sent > 0) this.#sent(codec.version, 0, sent);
      return;
    }
    const outgoing = queuedOutgoing(message, qos, retain, ids, group);
    if (
      this.client && this.queue.length === 0 && this.#held === 0 && this.#room(this.client) &&
      this.client.canSend(message.encodedLength(this.client.codec.version, qos, ids))
    ) {
      this.#transmit(outgoing, this.client);
      return;
    }
    this.#enqueue(outgoing);
  }

  /** Counts a delivery of `bytes` at `qos` to a client of protocol `version`. */
  #sent(version: ProtocolLevel | 0, qos: QoS, bytes: number): void {
    const { stats } = this.context;
    // Only a client past CONNECT has a session, so `version` is set.
    const level = version as ProtocolLevel;
    stats.publishSent++;
    stats.publishSentByQos[level][qos]++;
    stats.publishBytesSentByQos[level][qos] += bytes;
  }

  #dropQos0(): void {
    this.context.stats.droppedQos0++;
    this.#noteDrop(0, "QoS 0", "its connection is not taking bytes fast enough");
  }

  /** How this session can take a message at `qos` for a shared subscription now. */
  room(qos: QoS): Room {
    const client = this.client;
    if (!client) return qos === 0 ? 0 : ROOM_QUEUE;
    if (qos === 0) return client.canSend(0) ? ROOM_NOW : 0;
    const { maxQueuedMessages } = this.context.limits;
    if (this.queue.length === 0 && this.#held === 0 && this.#room(client)) return ROOM_NOW;
    return this.queue.length < maxQueuedMessages ? ROOM_QUEUE : 0;
  }

  /**
   * Sends one PUBLISH, with a topic alias when the client accepts them. Returns its size in
   * bytes, or 0, sending nothing, when it exceeds the client's Maximum Packet Size: the message is then dropped for
   * this client as if delivered (MQTT 5.0 3.1.2.11.4 MQTT-3.1.2-25). Its user properties are part
   * of the application message, forwarded unchanged (MQTT-3.3.2-17), so none are left out to make
   * it fit.
   */
  #publish(
    client: Client,
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup: boolean,
    ids: readonly number[] | undefined,
  ): number {
    const { codec } = client;
    const version = codec.version;
    let alias = 0;
    if (version === 5 && (codec.maximumPacketSize > 0 || codec.clientTopicAliasMaximum > 0)) {
      const max = codec.maximumPacketSize;
      const length = message.encodedLength(5, qos, ids);
      if (max > 0 && length > max) {
        this.context.stats.droppedTooLarge++;
        this.#noteDrop(2, `QoS ${qos}`, `a message exceeds its maximum packet size ${max}`);
        return 0;
      }
      // Setting an alias adds 3 bytes; a message that fits only without goes without.
      if (codec.clientTopicAliasMaximum > 0 && (max === 0 || length + 3 <= max)) {
        alias = codec.outboundAliases.use(message.topic, codec.clientTopicAliasMaximum);
      }
    }
    const bytes = message.encode(version, qos, retain, packetId, dup, ids, alias);
    client.send(bytes);
    return bytes.length;
  }

  #enqueue(outgoing: Outgoing): void {
    if (this.client && !sliceDue()) this.#wantAcks(this.client);
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
    if (this.durable) this.#stored(outgoing, 0);
  }

  /**
   * Behind its window or its output bound with its queue half full or more: if its client is
   * still sending, reading its acknowledgements before the rest of other connections' bursts is
   * what keeps messages from being dropped (see `awaitingAcks`). A client silent for
   * {@link SILENT_MS} is not waited for: it would only slow the others down.
   */
  #wantAcks(client: Client): void {
    const { maxQueuedMessages, maxQueuedBytes } = this.context.limits;
    if (
      this.queue.length * 2 < maxQueuedMessages &&
      (maxQueuedBytes === 0 || this.queuedBytes * 2 < maxQueuedBytes)
    ) return;
    if (Date.now() - client.lastRead < SILENT_MS) awaitingAcks();
  }

  /** Writes a delivery's new state: queued (packet id 0) or sent with `packetId`. */
  #stored(outgoing: Outgoing, packetId: number): void {
    const { store } = this.context;
    const old = outgoing.seq;
    outgoing.seq = ++this.seq;
    if (old !== 0) return store.deliverySent(this.clientId, old, outgoing.seq, packetId);
    store.deliveryAdded({
      clientId: this.clientId,
      seq: outgoing.seq,
      messageId: this.context.storeMessage(outgoing.message),
      qos: outgoing.qos,
      retain: outgoing.retain,
      packetId,
      released: false,
      ids: outgoing.ids ? [...outgoing.ids] : undefined,
      share: outgoing.group && `$share/${outgoing.group.name}/${outgoing.group.filter}`,
    });
  }

  /** The delivery is done, dropped or taken away. */
  #unstored(outgoing: Outgoing): void {
    if (outgoing.seq === 0) return;
    this.context.store.deliveryRemoved(this.clientId, outgoing.seq, outgoing.message.storeId);
    outgoing.seq = 0;
  }

  /**
   * Writes the deliveries the store does not have yet (it held none while the session was not
   * durable, or they came from another node): in flight in resend order, then queued.
   */
  storeDeliveries(): void {
    const { store } = this.context;
    for (const outgoing of this.inflight.values()) {
      if (outgoing.seq !== 0) continue;
      this.#stored(outgoing, outgoing.packetId);
      if (outgoing.released) {
        const old = outgoing.seq;
        outgoing.seq = ++this.seq;
        store.deliveryReleased(this.clientId, old, outgoing.seq);
      }
    }
    for (const outgoing of this.queue) if (outgoing.seq === 0) this.#stored(outgoing, 0);
  }

  /** Puts back a delivery read from the store, in the store's order. */
  restoreDelivery(outgoing: Outgoing): void {
    if (outgoing.seq > this.seq) this.seq = outgoing.seq;
    if (outgoing.packetId === 0) {
      this.queue.push(outgoing);
      this.queuedBytes += outgoing.message.size;
    } else this.inflight.set(outgoing.packetId, outgoing);
  }

  /** A QoS 2 PUBLISH received with `packetId`: it is not routed again until PUBREL. */
  awaitRelease(packetId: number): void {
    this.awaitingRelease.add(packetId);
    if (this.durable) this.context.store.receiveAdded(this.clientId, packetId);
  }

  /** PUBREL for `packetId`; returns whether it was awaited. */
  release(packetId: number): boolean {
    if (!this.#awaitingRelease?.delete(packetId)) return false;
    if (this.durable) this.context.store.receiveRemoved(this.clientId, packetId);
    return true;
  }

  /**
   * Counts a drop for this session, and logs it at most once per {@link DROP_LOG_INTERVAL_MS} per
   * kind: a flood must not flood the log too (the counters in `$SYS` have every drop). Time, not a "run" of drops, because a
   * client at its bound alternates drops and sends, and a run would end at every send.
   */
  #noteDrop(kind: 0 | 1 | 2, what: string, why: string): void {
    this.dropped++;
    const now = Date.now();
    const quietUntil = this.#quietUntil ??= [0, 0, 0];
    if (now < quietUntil[kind]) return;
    quietUntil[kind] = now + DROP_LOG_INTERVAL_MS;
    this.context.logger.warn(`dropping ${what} messages for ${this.clientId}: ${why}`);
  }

  #transmit(outgoing: Outgoing, client: Client): void {
    const packetId = this.#allocatePacketId();
    const { message, qos, retain, ids } = outgoing;
    const sent = this.#publish(client, message, qos, retain, packetId, false, ids);
    if (sent === 0) return this.#unstored(outgoing);
    outgoing.packetId = packetId;
    this.inflight.set(packetId, outgoing);
    if (this.durable) this.#stored(outgoing, packetId);
    this.#sent(client.codec.version, qos, sent);
  }

  /**
   * Moves queued messages into flight while the window and the connection allow; those that
   * expired while queued are dropped (MQTT 5.0 3.3.2.3.3).
   */
  pump(): void {
    const client = this.client;
    if (!client) return;
    if (this.#held > 0 && !this.#sendHeld(client)) return;
    let next: Outgoing | undefined;
    while (
      this.#room(client) && (next = this.queue.peek()) &&
      client.canSend(next.message.encodedLength(client.codec.version, next.qos, next.ids))
    ) {
      this.queue.shift();
      this.queuedBytes -= next.message.size;
      if (next.message.expired) {
        this.context.stats.messagesExpired++;
        this.dropped++;
        this.#unstored(next);
        continue;
      }
      this.#transmit(next, client);
    }
    if (this.#retained !== undefined && this.#retained.size > 0) this.#pumpRetained(client);
  }

  /**
   * Takes out the QoS 1/2 messages given to this session for shared subscriptions and not yet
   * sent (queued), and with `unacknowledged` also those sent and not acknowledged (a QoS 2 one
   * whose PUBREC came is the client's already); only those of `group`, if given. The caller
   * gives them to other members.
   */
  takeShared(unacknowledged: boolean, group?: ShareGroup<Subscriber>): Outgoing[] {
    const mine = (o: Outgoing) =>
      o.group !== undefined && (group === undefined || o.group === group);
    const taken = this.queue.length === 0 ? [] : this.queue.extract(mine);
    for (const o of taken) this.queuedBytes -= o.message.size;
    if (unacknowledged && this.#inflight !== undefined) {
      for (const [packetId, o] of this.#inflight) {
        if (mine(o) && !o.released) {
          this.#inflight.delete(packetId);
          taken.push(o);
        }
      }
    }
    for (const o of taken) this.#unstored(o);
    return taken;
  }

  /**
   * Sends the retained messages that `entries` finds for a new subscription to `filter` at the
   * pace the client takes them: QoS 0 within the output bound, QoS 1/2 within the in-flight window
   * (the queue is left to live messages). Sending them all at once would drop what does not fit.
   * Replaces what an earlier subscription to the same filter had left to send.
   */
  sendRetained(
    filter: string,
    qos: QoS,
    entries: Iterator<RetainedEntry>,
    ids?: readonly number[],
  ): void {
    const retained = this.#retained ??= new Map();
    retained.delete(filter);
    retained.set(filter, { qos, ids, entries, next: undefined });
    this.pump();
  }

  /** Stops sending the retained messages of a subscription to `filter` (it was unsubscribed). */
  cancelRetained(filter: string): void {
    this.#retained?.delete(filter);
  }

  #pumpRetained(client: Client): void {
    const retained = this.#retained!;
    for (const [filter, cursor] of retained) {
      for (;;) {
        if (this.#judging) return;
        if (!cursor.next) {
          const step = cursor.entries.next();
          if (step.done) break;
          cursor.next = step.value;
        }
        const entry = cursor.next;
        const message = entry.message;
        if (!message || message.expired) {
          cursor.next = undefined;
          continue;
        }
        const qos = message.qos < cursor.qos ? message.qos : cursor.qos;
        const room = qos === 0 ||
          (this.queue.length === 0 && this.#room(client));
        const length = message.encodedLength(client.codec.version, qos, cursor.ids);
        if (!room || !client.canSend(length)) return;
        cursor.next = undefined;
        const verdict = this.context.mayReceive(this, message);
        if (verdict === true) this.deliver(message, qos, true, cursor.ids);
        else if (verdict !== false) return this.#judge(verdict, filter, cursor, entry, qos);
      }
      retained.delete(filter);
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
      if (allowed && this.#retained?.get(filter) === cursor && entry.message === message) {
        this.deliver(message, qos, true, cursor.ids);
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
      const { message, qos, retain, packetId, ids } = outgoing;
      if (outgoing.released) client.send(codec.ack(PacketType.PUBREL, packetId));
      else if (this.#room(client)) {
        outgoing.held = false;
        this.#held--;
        if (this.#publish(client, message, qos, retain, packetId, true, ids) === 0) {
          this.inflight.delete(packetId);
          this.#unstored(outgoing);
        }
      }
    }
    this.pump();
  }

  /** Sends held PUBLISHes while there is room; returns whether none is left. */
  #sendHeld(client: Client): boolean {
    const { version } = client.codec;
    for (const outgoing of this.inflight.values()) {
      if (!outgoing.held) continue;
      const { message, qos, retain, packetId, ids } = outgoing;
      if (!this.#room(client) || !client.canSend(message.encodedLength(version, qos, ids))) {
        return false;
      }
      outgoing.held = false;
      this.#held--;
      if (this.#publish(client, message, qos, retain, packetId, true, ids) === 0) {
        this.inflight.delete(packetId);
        this.#unstored(outgoing);
      }
      if (this.#held === 0) break;
    }
    return true;
  }

  /** PUBACK or PUBCOMP: the message is done. */
  complete(packetId: number, qos: 1 | 2): void {
    const outgoing = this.#inflight?.get(packetId);
    if (!outgoing || outgoing.qos !== qos || (qos === 2 && !outgoing.released)) return;
    if (outgoing.message.clusterOrigin !== undefined) {
      noteSeen(this.clusterSeen ??= new Map(), outgoing.message);
    }
    if (outgoing.held) this.#held--;
    this.inflight.delete(packetId);
    this.#unstored(outgoing);
    this.pump();
  }

  /**
   * PUBREC: returns whether the packet identifier was a QoS 2 message in flight. The message moves
   * to the end of {@link Session.inflight}, so that a resend sends PUBRELs in PUBREC order (4.6).
   */
  received(packetId: number): boolean {
    const outgoing = this.#inflight?.get(packetId);
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
      if (outgoing.seq !== 0) {
        const old = outgoing.seq;
        outgoing.seq = ++this.seq;
        this.context.store.deliveryReleased(this.clientId, old, outgoing.seq);
      }
    }
    return true;
  }

  /** Forgets everything in flight and queued (the session ends). */
  clear(): void {
    this.#inflight = undefined;
    this.#held = 0;
    this.queue.clear();
    this.queuedBytes = 0;
    this.#awaitingRelease = undefined;
    this.#retained = undefined;
    this.will = undefined;
  }
}
