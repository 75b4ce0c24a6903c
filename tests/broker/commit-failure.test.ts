import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerCore } from "../../src/broker/core.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import { StoreError } from "../../src/store/error.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.ts";
import type { Store } from "../../src/store/types.ts";
import { eventually, memoryLogger, RawClient, sleep } from "../helpers/broker.ts";
import { storeWithCommit } from "../helpers/store.ts";
import { startAdminBroker } from "../admin/helpers.ts";

function folder(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "commit-failure-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The SQLite store at `file`, whose commits fail as on a full disk while `full` is set. */
function fillableStore(file: string): { store: Store; disk: { full: boolean } } {
  const disk = { full: false };
  const store = storeWithCommit(file, (inner) => {
    if (disk.full) {
      return Promise.reject(
        new StoreError(
          `persistence: cannot commit to ${file} (database or disk is full): free space on the file system of ${file}`,
          file,
        ),
      );
    }
    return inner.commit();
  });
  return { store, disk };
}

const persistent = { clean: false, clientId: "pub" };

describe("a commit that fails", () => {
  test("holds the acknowledgements, logs once, retries, and lets them go when it works", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const { store, disk } = fillableStore(file);
    const config = await resolveConfig({
      listeners: { default: { bind: "127.0.0.1:0" } },
      persistence: { path: file, sync: "normal" },
    }, { baseDir: f.dir });
    const logger = memoryLogger();
    const core = new BrokerCore(config, logger, store);
    await core.listen(await getRuntimeAdapter());
    const client = await RawClient.connect(core.listeners[0].port);
    try {
      assert.equal((await client.handshake(persistent)).sessionPresent, false);
      disk.full = true;
      client.send({ cmd: "publish", topic: "a", payload: "1", qos: 1, messageId: 7, retain: true });
      await eventually(() => core.storeHealth!.failing, 5000);
      // Retries go on, the PUBACK does not come.
      await sleep(300);
      assert.equal(client.packets.length, 0, "no PUBACK for what is not on disk");
      const health = core.storeHealth!;
      assert.ok(health.figures.pendingRecords > 0);
      const errors = logger.lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, "logged once, not per retry");
      assert.match(
        errors[0],
        new RegExp(`${file.replace(/[\\.]/g, "\\$&")}.*disk is full.*free space`),
      );
      disk.full = false;
      const puback = await client.next("puback", 10_000);
      assert.equal(puback.messageId, 7);
      assert.equal(core.storeHealth!.failing, false);
      assert.equal(core.storeHealth!.figures.pendingRecords, 0);
      assert.ok(logger.lines.some((l) => /commits work again/.test(l)));
    } finally {
      client.destroy();
      await core.close();
    }
    // The message acknowledged after the recovery is on disk.
    const again = openSqliteStore(file, "normal");
    assert.equal(again.summary().retained, 1);
    await again.close();
  });

  test("a removed store file fails commits; /readyz is 503 and /metrics counts the failures", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const { broker, mqttUrl, httpUrl, logger } = await startAdminBroker({
      persistence: { path: file, sync: "normal" },
      admin: { "public-metrics": true },
    });
    const client = await RawClient.connect(Number(new URL(mqttUrl).port));
    try {
      await client.handshake(persistent);
      let ready = await fetch(`${httpUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal((await ready.json()).checks.store, true);
      rmSync(file);
      client.send({ cmd: "publish", topic: "a", payload: "1", qos: 1, messageId: 3, retain: true });
      await eventually(() => logger.lines.some((l) => l.startsWith("error")), 5000);
      assert.match(
        logger.lines.find((l) => l.startsWith("error"))!,
        /removed or replaced.*restart it soon/,
      );
      ready = await fetch(`${httpUrl}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await ready.json()).checks.store, false);
      const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
      assert.match(metrics, /^mqtt_store_failing 1$/m);
      assert.match(metrics, /^mqtt_store_commit_failures_total [1-9]/m);
      assert.match(metrics, /^mqtt_store_pending_records [1-9]/m);
      assert.match(metrics, /^mqtt_store_commits_total [1-9]/m);
      assert.match(metrics, /^mqtt_store_bytes \d/m);
      assert.equal(client.packets.length, 0, "no PUBACK");
    } finally {
      client.destroy();
      await broker.close();
    }
  });
});
