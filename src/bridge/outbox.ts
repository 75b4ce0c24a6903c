/**
 * What a bridge holds for its remote: the queue, and the messages in flight by packet identifier.
 * With a durable store each QoS 1/2 message is written through as a delivery of the reserved
 * session `$bridge/<name>` (the message stored once, like any session's), so that the queue and
 * the QoS 2 state survive a restart of the broker.
 *
 * @module
 */
import type { QoS } from "../protocol/packets.ts";
import type { RoutedMessage } from "../broker/message.ts";
import { Fifo } from "../broker/fifo.ts";
import type { HeldDelivery } from "../broker/bridge_seam.ts";
import type { Store } from "../store/types.ts";

/** The bridge's SUBSCRIBE uses packet identifier 1 (SUBSCRIBE_ID); messages the others. */
export const SUBSCRIBE_ID = 1;
const FIRST_ID = SUBSCRIBE_ID + 1;

/** A message for the remote. */
export interface Pending {
  /** As routed here; the store holds this one. */
  local: RoutedMessage;
  /** With the remote topic: what is encoded for the remote. */
  remote: RoutedMessage;
  qos: QoS;
  retain: boolean;
  /** Remembered so that the remote's copy of it coming back in is recognised (3.1.1, `both`). */
  echo: boolean;
  /** Its place in the store (0: not stored). */
  seq: number;
  /** 0 while queued. */
  packetId: number;
  /** QoS 2: PUBREC received, PUBREL sent. */
  released: boolean;
}

/** Durable records of one bridge, or none for the memory store. */
interface Records {
  store: Store;
  clientId: string;
  storeMessage: (message: RoutedMessage) => number;
}

/** The queue and the in-flight messages of one bridge. */
export class Outbox {
  readonly queue = new Fifo<Pending>();
  /** In the order they were sent. */
  readonly inflight = new Map<number, Pending>();
  #records: Records | undefined;
  #seq = 0;
  #nextId = FIRST_ID;

  constructor(records: Records | undefined) {
    this.#records = records?.store.durable ? records : undefined;
  }

  /**
   * Takes back what the store held for this bridge: queued ones in order, in-flight ones under
   * their packet identifiers. `toPending` maps a stored message to its pending form, or
   * undefined when no outgoing pattern takes it any more (then it is forgotten).
   */
  restore(
    held: readonly HeldDelivery[],
    toPending: (local: RoutedMessage, qos: QoS, retain: boolean) => Pending | undefined,
  ): void {
    const r = this.#records;
    if (!r) return;
    for (const { delivery: d, message } of held) {
      const pending = toPending(message, d.qos, d.retain);
      if (!pending) {
        r.store.deliveryRemoved(r.clientId, d.seq, d.messageId);
        continue;
      }
      pending.seq = d.seq;
      pending.packetId = d.packetId;
      pending.released = d.released;
      if (d.packetId === 0) this.queue.push(pending);
      else this.inflight.set(d.packetId, pending);
      if (d.seq > this.#seq) this.#seq = d.seq;
    }
  }

  /** Queues a message at the back. */
  add(pending: Pending): void {
    const r = this.#records;
    if (r && pending.qos > 0) {
      pending.seq = ++this.#seq;
      r.store.deliveryAdded({
        clientId: r.clientId,
        seq: pending.seq,
        messageId: r.storeMessage(pending.local),
        qos: pending.qos as 1 | 2,
        retain: pending.retain,
        packetId: 0,
        released: false,
        ids: undefined,
      });
    }
    this.queue.push(pending);
  }

  /** Gives a QoS 1/2 message a free packet identifier and puts it in flight. */
  send(pending: Pending): void {
    const next = (id: number) => id === 0xffff ? FIRST_ID : id + 1;
    let id = this.#nextId;
    while (this.inflight.has(id)) id = next(id);
    this.#nextId = next(id);
    pending.packetId = id;
    this.inflight.set(id, pending);
    this.#sent(pending, id);
  }

  /**
   * Unreleased in-flight ones back to the front of the queue, in order (a session the remote
   * lost).
   */
  requeue(pending: Pending[]): void {
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i];
      this.inflight.delete(p.packetId);
      p.packetId = 0;
      this.#sent(p, 0);
      this.queue.unshift(p);
    }
  }

  #sent(p: Pending, packetId: number): void {
    const r = this.#records;
    // The order stays the queue's: in-flight ones are its oldest, and go back to its front.
    if (r && p.seq) r.store.deliverySent(r.clientId, p.seq, p.seq, packetId);
  }

  /** QoS 2: the remote has it; PUBREL is what remains. */
  release(p: Pending): void {
    p.released = true;
    const r = this.#records;
    if (r && p.seq) r.store.deliveryReleased(r.clientId, p.seq, p.seq);
  }

  /** Done with: acknowledged, refused, expired or too large. */
  remove(p: Pending): void {
    if (p.packetId !== 0) this.inflight.delete(p.packetId);
    const r = this.#records;
    if (r && p.seq) r.store.deliveryRemoved(r.clientId, p.seq, p.local.storeId);
  }
}
