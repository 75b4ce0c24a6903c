import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { QoS } from "../../src/protocol/packets.ts";
import {
  connect,
  eventually,
  killCli,
  memoryLogger,
  startBroker,
  startCliListening,
} from "../helpers/broker.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.ts";
import { brokerOn, counts, freePort, record } from "./helpers.ts";

const WAIT = 30000;

/** An edge broker's config: persistence on, bridging `f/#` out to `remotePort`. */
function place(remotePort: number, qos: QoS): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), "bridge-persist-"));
  const config = join(dir, "broker.yaml");
  writeFileSync(
    config,
    [
      "listeners:",
      "  default:",
      "    bind: 127.0.0.1:0",
      "persistence:",
      "  path: broker.db",
      "  sync: normal",
      "bridges:",
      "  up:",
      `    address: mqtt://127.0.0.1:${remotePort}`,
      `    topics: [{ pattern: "f/#", qos: ${qos} }]`,
      "    reconnect: { min: 0.05, max: 0.2 }",
      "",
    ].join("\n"),
  );
  return { dir, config };
}

/**
 * Publishes `total` messages at `qos` to the edge at `port` without waiting, and returns the
 * payloads it acknowledged once `enough` were (then the edge is killed by the caller).
 */
async function flood(port: number, qos: QoS, total: number, enough: number) {
  const client = await connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  client.on("error", () => {});
  const acked = new Set<string>();
  for (let i = 0; i < total; i++) {
    const payload = String(i);
    client.publish("f/x", payload, { qos }, (error) => {
      if (!error) acked.add(payload);
    });
  }
  await eventually(() => acked.size >= enough, WAIT, `${enough} acknowledgements`);
  return { acked, client };
}

describe("a bridge's queue across a SIGKILL of the edge (persistence on)", () => {
  for (const remoteUp of [false, true]) {
    for (const qos of [1, 2] as QoS[]) {
      const where = remoteUp ? "to a running remote" : "to a stopped remote";
      const once = qos === 2 ? ", each once" : "";
      test(`QoS ${qos} ${where}: every acknowledged message reaches the remote${once}`, async () => {
        const port = await freePort();
        let remote = remoteUp ? await brokerOn(port) : undefined;
        const got = remote ? record(remote.broker, "f/#") : [];
        const { dir, config } = place(port, qos);
        let edge = await startCliListening(config);
        try {
          const { acked, client } = await flood(edge.port, qos, 1500, 300);
          await killCli(edge);
          client.end(true);
          edge = await startCliListening(config);
          if (!remote) {
            remote = await brokerOn(port);
            remote.broker.subscribe("f/#", (m) => {
              got.push({ ...m, payload: new TextDecoder().decode(m.payload) });
            });
          }
          await eventually(
            () => [...acked].every((p) => counts(got).has(p)),
            WAIT,
            `all ${acked.size} acknowledged messages at the remote`,
          );
          const seen = counts(got);
          const lost = [...acked].filter((p) => !seen.has(p));
          assert.deepEqual(lost, [], "acknowledged and lost");
          if (qos === 2) {
            assert.deepEqual([...seen].filter(([, n]) => n > 1), [], "QoS 2 duplicates");
          }
        } finally {
          await killCli(edge);
          await remote?.broker.close();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
});

test("the stored queue of a bridge no longer configured is dropped, with a warning", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bridge-removed-"));
  const path = join(dir, "broker.db");
  try {
    const remotePort = await freePort();
    const bridges = {
      up: {
        address: `mqtt://127.0.0.1:${remotePort}`,
        topics: [{ pattern: "f/#", qos: 1 as const }],
        reconnect: { min: 0.05, max: 0.2 },
      },
    };
    const edge = await startBroker({ persistence: { path }, bridges });
    const client = await connect(edge.url);
    for (let i = 0; i < 5; i++) await client.publishAsync("f/x", String(i), { qos: 1 });
    await client.endAsync();
    await edge.broker.close();
    assert.equal(summarize(path).deliveries, 5);

    const logger = memoryLogger();
    const again = await startBroker({ persistence: { path } }, logger);
    await again.broker.close();
    assert.ok(
      logger.lines.some((l) =>
        l.startsWith("warn") && l.includes("5 queued messages of $bridge/up")
      ),
      logger.lines.join("\n"),
    );
    const left = summarize(path);
    assert.equal(left.deliveries, 0);
    assert.equal(left.messages, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function summarize(path: string) {
  const store = openSqliteStore(path, "normal");
  try {
    return store.summary();
  } finally {
    store.close();
  }
}
