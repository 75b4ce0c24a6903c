/**
 * Bridges to a real Mosquitto, started on a free port with a generated configuration; skipped,
 * saying why, where `mosquitto` is not installed (`.ci/run` installs it).
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { QoS } from "../../src/protocol/packets.ts";
import { collect, connect, eventually } from "../helpers/broker.ts";
import {
  bridgeState,
  counts,
  edge,
  floodAcrossCuts,
  freePort,
  markersArrived,
  Proxy,
  record,
} from "./helpers.ts";

const WAIT = 20000;

function findMosquitto(): string | undefined {
  for (const path of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]) {
    if (existsSync(path)) return path;
  }
  const found = spawnSync("sh", ["-c", "command -v mosquitto"], { encoding: "utf8" });
  return found.status === 0 && found.stdout.trim() !== "" ? found.stdout.trim() : undefined;
}

const binary = findMosquitto();
const skip = binary === undefined
  ? "mosquitto is not installed (apt-get install mosquitto)"
  : undefined;
if (skip) console.log(`skipped: ${skip}`);

/** A Mosquitto on a free loopback port, anonymous, without persistence. */
async function mosquitto(): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "bridge-mosquitto-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(
    conf,
    [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_dest none", ""]
      .join("\n"),
  );
  const child: ChildProcess = spawn(binary!, ["-c", conf], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `mqtt://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(() => child.exitCode === null, WAIT, "mosquitto to start");
    let ready = false;
    while (!ready) {
      try {
        (await connect(url)).end(true);
        ready = true;
      } catch {
        if (child.exitCode !== null) throw new Error("mosquitto exited");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, stop };
}

describe("a bridge to Mosquitto", { skip }, () => {
  for (const protocol of [5, 4] as const) {
    test(`protocol ${protocol}: out and in with prefixes, both without loops`, async () => {
      const remote = await mosquitto();
      const watcher = await connect(remote.url);
      await watcher.subscribeAsync("#", { qos: 1 });
      const atRemote = collect(watcher);
      const local = await edge({
        address: remote.url,
        protocol,
        topics: [
          { pattern: "s/#", direction: "out", "remote-prefix": "site/" },
          { pattern: "c/#", direction: "in", "remote-prefix": "site/", "local-prefix": "cmd/" },
          { pattern: "b/#", direction: "both", qos: 2 },
        ],
      });
      const atLocal = record(local.broker, "#");
      try {
        await bridgeState(local.broker).wait("1");
        const remoteClient = await connect(remote.url);
        local.broker.publish({ topic: "s/1", payload: "out", qos: 1 });
        local.broker.publish({ topic: "b/1", payload: "both-l", qos: 2 });
        // The remote subscriptions follow the CONNACK: publish until one arrives.
        await eventually(
          () => {
            if (!atLocal.some((m) => m.topic === "cmd/c/1")) {
              remoteClient.publish("site/c/1", "in", { qos: 1 });
              return false;
            }
            return true;
          },
          WAIT,
          "the in message locally",
        );
        await remoteClient.publishAsync("b/2", "both-r", { qos: 2 });
        await eventually(() => atLocal.some((m) => m.payload === "both-r"), WAIT, "both-r locally");
        await eventually(() => atRemote.some((m) => m.payload === "both-l"), WAIT, "both-l there");
        await eventually(() => atRemote.some((m) => m.payload === "out"), WAIT, "out there");
        // Markers last each way: a loop's copies would come before them.
        local.broker.publish({ topic: "b/m", payload: "mark-l", qos: 2 });
        await remoteClient.publishAsync("b/m", "mark-r", { qos: 2 });
        await markersArrived(atLocal, atRemote);
        const both = (seen: { topic: string; payload: string }[]) =>
          [...counts(seen.filter((m) => m.topic.startsWith("b/")))].sort();
        const expected = [["both-l", 1], ["both-r", 1], ["mark-l", 1], ["mark-r", 1]];
        assert.deepEqual(both(atLocal), expected);
        assert.deepEqual(both(atRemote), expected);
        assert.ok(atRemote.some((m) => m.topic === "site/s/1"));
        await remoteClient.endAsync();
      } finally {
        await local.broker.close();
        watcher.end(true);
        await remote.stop();
      }
    });
  }

  for (const qos of [1, 2] as QoS[]) {
    test(`QoS ${qos} out across cut links: nothing lost${qos === 2 ? ", each once" : ""}`, async () => {
      const remote = await mosquitto();
      const watcher = await connect(remote.url, { clientId: "watcher", clean: false });
      try {
        await watcher.subscribeAsync("f/#", { qos: 2 });
        const seen = await floodAcrossCuts(remote.port, collect(watcher), qos);
        if (qos === 2) {
          assert.deepEqual([...seen].filter(([, n]) => n > 1), [], "QoS 2 duplicates");
        }
      } finally {
        watcher.end(true);
        await remote.stop();
      }
    });
  }

  test("notifications: Mosquitto holds the bridge's state, 1 while up, 0 (its will) once cut", async () => {
    const remote = await mosquitto();
    const proxy = await Proxy.start(remote.port);
    const local = await edge({
      address: `mqtt://127.0.0.1:${proxy.port}`,
      "client-id": "edge-7",
      topics: [{ pattern: "n/#" }],
      // Slow to come back: the will must be what the remote has in the meantime.
      reconnect: { min: 30, max: 30 },
    });
    const watcher = await connect(remote.url);
    const got = collect(watcher);
    try {
      await watcher.subscribeAsync("$SYS/broker/connection/edge-7/state", { qos: 1 });
      const last = () => got.at(-1) && String(got.at(-1)!.payload);
      await eventually(() => last() === "1", WAIT, "state 1 at Mosquitto");
      proxy.cut();
      await eventually(() => last() === "0", WAIT, "state 0 at Mosquitto, from the will");
      assert.equal(got.at(-1)!.topic, "$SYS/broker/connection/edge-7/state");
    } finally {
      watcher.end(true);
      await local.broker.close();
      await proxy.close();
      await remote.stop();
    }
  });
});
