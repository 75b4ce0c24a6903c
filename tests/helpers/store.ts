/**
 * Stores for tests of the core's commit handling.
 *
 * @module
 */
import { openSqliteStore } from "../../src/store/sqlite/sqlite.ts";
import type { Store, StoredSession } from "../../src/store/types.ts";

/**
 * The SQLite store at `file`, with `commit` replaced: `commit(inner)` is called for each of the
 * core's commits with the real store, whose own commit it may run or not. Everything else is the
 * real store's.
 */
export function storeWithCommit(
  file: string,
  commit: (inner: Store) => Promise<void>,
): Store {
  const inner = openSqliteStore(file, "normal");
  const store = Object.create(inner) as Store;
  // Methods of the real store run on the real store (its private fields), only commit differs.
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(inner))) {
    const value = (inner as unknown as Record<string, unknown>)[key];
    if (typeof value === "function" && key !== "constructor") {
      (store as unknown as Record<string, unknown>)[key] = value.bind(inner);
    }
  }
  Object.defineProperty(store, "pending", { get: () => inner.pending });
  // Configurable: a test may answer for the store.
  Object.defineProperty(store, "awaitingAck", {
    get: () => inner.awaitingAck,
    configurable: true,
  });
  Object.defineProperty(store, "onPending", {
    get: () => inner.onPending,
    set: (f) => inner.onPending = f,
  });
  store.commit = () => commit(inner);
  return store;
}

/** A 3.1.1 session record of `clientId` that never expires. */
export function storedSession(clientId: string): StoredSession {
  return {
    clientId,
    username: undefined,
    protocolVersion: 4,
    expiryMs: Infinity,
    expiresAt: 0,
  };
}
