/**
 * Two stores as one: every record goes to both, `primary` is what the broker loads at start and
 * what its figures describe, and `mirror` copies it elsewhere (a cluster's copies of sessions in
 * Redis). The mirror also hears of what the primary loads, so that it holds what was restored.
 *
 * @module
 */
import type { Store, StoredState, StoreFigures, StoreSummary } from "./types.ts";

/** Passes each item on to `tap` as it is read. */
function* tapped<T>(items: Iterable<T>, tap: (item: T) => void): Generator<T> {
  for (const item of items) {
    tap(item);
    yield item;
  }
}

/** A {@link Store} that writes to `primary` and `mirror` alike. */
export class TeeStore implements Store {
  #onPending: (() => void) | undefined;

  constructor(readonly primary: Store, readonly mirror: Store) {}

  get durable(): boolean {
    return this.primary.durable || this.mirror.durable;
  }

  get pending(): boolean {
    return this.primary.pending || this.mirror.pending;
  }

  get awaitingAck(): number {
    return this.primary.awaitingAck + this.mirror.awaitingAck;
  }

  get onPending(): (() => void) | undefined {
    return this.#onPending;
  }

  set onPending(hook: (() => void) | undefined) {
    this.#onPending = hook;
    this.primary.onPending = hook;
    this.mirror.onPending = hook;
  }

  sessionSaved: Store["sessionSaved"] = (session) => {
    this.primary.sessionSaved(session);
    this.mirror.sessionSaved(session);
  };
  sessionEnded: Store["sessionEnded"] = (clientId) => {
    this.primary.sessionEnded(clientId);
    this.mirror.sessionEnded(clientId);
  };
  willSaved: Store["willSaved"] = (clientId, will) => {
    this.primary.willSaved(clientId, will);
    this.mirror.willSaved(clientId, will);
  };
  willCleared: Store["willCleared"] = (clientId) => {
    this.primary.willCleared(clientId);
    this.mirror.willCleared(clientId);
  };
  subscriptionAdded: Store["subscriptionAdded"] = (subscription) => {
    this.primary.subscriptionAdded(subscription);
    this.mirror.subscriptionAdded(subscription);
  };
  subscriptionRemoved: Store["subscriptionRemoved"] = (clientId, filter) => {
    this.primary.subscriptionRemoved(clientId, filter);
    this.mirror.subscriptionRemoved(clientId, filter);
  };
  messageStored: Store["messageStored"] = (message) => {
    this.primary.messageStored(message);
    this.mirror.messageStored(message);
  };
  deliveryAdded: Store["deliveryAdded"] = (delivery) => {
    this.primary.deliveryAdded(delivery);
    this.mirror.deliveryAdded(delivery);
  };
  deliverySent: Store["deliverySent"] = (clientId, oldSeq, seq, packetId) => {
    this.primary.deliverySent(clientId, oldSeq, seq, packetId);
    this.mirror.deliverySent(clientId, oldSeq, seq, packetId);
  };
  deliveryReleased: Store["deliveryReleased"] = (clientId, oldSeq, seq) => {
    this.primary.deliveryReleased(clientId, oldSeq, seq);
    this.mirror.deliveryReleased(clientId, oldSeq, seq);
  };
  deliveryRemoved: Store["deliveryRemoved"] = (clientId, seq, messageId) => {
    this.primary.deliveryRemoved(clientId, seq, messageId);
    this.mirror.deliveryRemoved(clientId, seq, messageId);
  };
  retainedSet: Store["retainedSet"] = (topic, messageId) => {
    this.primary.retainedSet(topic, messageId);
    this.mirror.retainedSet(topic, messageId);
  };
  retainedCleared: Store["retainedCleared"] = (topic) => {
    this.primary.retainedCleared(topic);
    this.mirror.retainedCleared(topic);
  };
  receiveAdded: Store["receiveAdded"] = (clientId, packetId) => {
    this.primary.receiveAdded(clientId, packetId);
    this.mirror.receiveAdded(clientId, packetId);
  };
  receiveRemoved: Store["receiveRemoved"] = (clientId, packetId) => {
    this.primary.receiveRemoved(clientId, packetId);
    this.mirror.receiveRemoved(clientId, packetId);
  };

  /** The primary's state; each item read is told to the mirror too. */
  load(): StoredState {
    const state = this.primary.load();
    const m = this.mirror;
    return {
      sessions: tapped(state.sessions, (s) => m.sessionSaved(s)),
      wills: state.wills,
      subscriptions: tapped(state.subscriptions, (s) => m.subscriptionAdded(s)),
      messages: tapped(state.messages, (message) => m.messageStored(message)),
      deliveries: tapped(state.deliveries, (d) => m.deliveryAdded(d)),
      retained: tapped(state.retained, ([topic, id]) => m.retainedSet(topic, id)),
      awaitingRelease: tapped(
        state.awaitingRelease,
        ({ clientId, packetId }) => m.receiveAdded(clientId, packetId),
      ),
    };
  }

  /**
   * The mirror's commit never fails (what it sends is held for by the cluster); the primary's
   * may, and then the broker retries both.
   */
  async commit(): Promise<void> {
    await this.mirror.commit();
    await this.primary.commit();
  }

  figures(): StoreFigures {
    return this.primary.figures();
  }

  summary(): StoreSummary {
    return this.primary.summary();
  }

  async close(): Promise<void> {
    await this.mirror.close();
    await this.primary.close();
  }
}
