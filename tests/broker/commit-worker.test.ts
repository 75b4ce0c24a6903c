import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerCore } from "../../src/broker/core.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import { DatabaseSync } from "../../src/store/sqlite/driver.ts";
import { openSqliteStore, readStoreSummary } from "../../src/store/sqlite/sqlite.ts";
import type { Store } from "../../src/store/types.ts";
import { eventually, memoryLogger, RawClient, sleep } from "../helpers/broker.ts";

function folder(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "commit-worker-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The SQLite store at `file`, whose commits report only when the test lets them: each commit is
 * handed to the writer at once, and its report waits for the next call of `report`.
 */
function reportingStore(file: string): { store: Store; report: () => void; started: () => number } {
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
  Object.defineProperty(store, "onPending", {
    get: () => inner.onPending,
    set: (f) => inner.onPending = f,
  });
  const gates: (() => void)[] = [];
  let started = 0;
  store.commit = () => {
    started++;
    const written = inner.commit();
    const reported = new Promise<void>((resolve) => gates.push(resolve));
    return written.then(() => reported);
  };
  return {
    store,
    report: () => gates.shift()?.(),
    started: () => started,
  };
}

async function startCore(file: string, store: Store) {
  const config = await resolveConfig({
    listeners: { default: { bind: "127.0.0.1:0" } },
    persistence: { path: file, sync: "normal" },
  }, { baseDir: join(file, "..") });
  const logger = memoryLogger();
  const core = new BrokerCore(config, logger, store);
  await core.listen(await getRuntimeAdapter());
  return { core, logger };
}

const persistent = { clean: false, clientId: "pub" };

describe("commits from the writer thread", () => {
  test("a PUBACK waits for the report of its batch; one for a publish made meanwhile waits for the next", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const { store, report, started } = reportingStore(file);
    const { core } = await startCore(file, store);
    const client = await RawClient.connect(core.listeners[0].port);
    try {
      const connack = client.handshake(persistent);
      await eventually(() => started() === 1, 5000, "the session's commit");
      report();
      assert.equal((await connack).sessionPresent, false);
      client.send({ cmd: "publish", topic: "a", payload: "1", qos: 1, messageId: 1, retain: true });
      await eventually(() => started() === 2, 5000, "the first publish's commit");
      await sleep(100);
      assert.equal(client.packets.length, 0, "no PUBACK before the writer reports");
      client.send({ cmd: "publish", topic: "b", payload: "2", qos: 1, messageId: 2, retain: true });
      await sleep(100);
      assert.equal(started(), 2, "the second publish waits for the next batch");
      assert.equal(client.packets.length, 0);
      report();
      assert.equal((await client.next("puback")).messageId, 1);
      await eventually(() => started() === 3, 5000, "the second publish's commit");
      await sleep(100);
      assert.equal(client.packets.length, 0, "the second PUBACK waits for its own batch");
      report();
      assert.equal((await client.next("puback")).messageId, 2);
    } finally {
      client.destroy();
      const closing = core.close();
      // The last commit of close() reports as the others do.
      const reporting = setInterval(report, 10);
      await closing;
      clearInterval(reporting);
    }
    assert.equal(readStoreSummary(file).retained, 2);
  });

  test("a commit the writer fails is retried, then acknowledged", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const { core, logger } = await startCore(file, openSqliteStore(file, "normal"));
    const client = await RawClient.connect(core.listeners[0].port);
    // Another connection's write lock: the writer's transaction fails with "database is locked".
    const other = new DatabaseSync(file);
    try {
      await client.handshake(persistent);
      other.exec("BEGIN IMMEDIATE");
      client.send({ cmd: "publish", topic: "a", payload: "1", qos: 1, messageId: 5, retain: true });
      await eventually(() => core.storeHealth!.failing, 5000, "the commit to fail");
      await sleep(200);
      assert.equal(client.packets.length, 0, "no PUBACK for what is not on disk");
      assert.ok(core.storeHealth!.figures.failedCommits >= 1);
      const errors = logger.lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, "logged once, not per retry");
      assert.match(errors[0], /cannot commit.*locked/);
      other.exec("ROLLBACK");
      assert.equal((await client.next("puback", 10_000)).messageId, 5);
      assert.equal(core.storeHealth!.failing, false);
    } finally {
      client.destroy();
      other.close();
      await core.close();
    }
    assert.equal(readStoreSummary(file).retained, 1);
  });
});
