/**
 * The default store: nothing is written, nothing survives a restart.
 *
 * @module
 */
import { emptyState, type Store, type StoreFigures, type StoreSummary } from "../types.ts";

const nothing = (): void => {};
const done = (): Promise<void> => Promise.resolve();

/** A {@link Store} that keeps nothing; the broker's memory is all there is. */
export function memoryStore(): Store {
  return {
    durable: false,
    pending: false,
    onPending: undefined,
    awaitingAck: 0,
    sessionSaved: nothing,
    sessionEnded: nothing,
    willSaved: nothing,
    willCleared: nothing,
    subscriptionAdded: nothing,
    subscriptionRemoved: nothing,
    messageStored: nothing,
    deliveryAdded: nothing,
    deliverySent: nothing,
    deliveryReleased: nothing,
    deliveryRemoved: nothing,
    retainedSet: nothing,
    retainedCleared: nothing,
    receiveAdded: nothing,
    receiveRemoved: nothing,
    load: emptyState,
    commit: done,
    figures: (): StoreFigures => ({
      commits: 0,
      failedCommits: 0,
      pendingRecords: 0,
      lastCommitMs: 0,
      commitMsTotal: 0,
      bytes: 0,
    }),
    summary: (): StoreSummary => ({
      sessions: 0,
      subscriptions: 0,
      messages: 0,
      deliveries: 0,
      retained: 0,
      bytes: 0,
    }),
    close: done,
  };
}
