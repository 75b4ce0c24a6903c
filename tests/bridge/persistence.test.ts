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
import { readStoreSummary } from "../../src/store/sqlite/sqlite.ts";
import { PacketFramer } from "../../src/protocol/framer.ts";
import net from "node:net";
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
    assert.equal(readStoreSummary(path).deliveries, 5);

    const logger = memoryLogger();
    const again = await startBroker({ persistence: { path } }, logger);
    await again.broker.close();
    assert.ok(
      logger.lines.some((l) =>
        l.startsWith("warn") && l.includes("5 queued messages of $bridge/up")
      ),
      logger.lines.join("\n"),
    );
    const left = readStoreSummary(path);
    assert.equal(left.deliveries, 0);
    assert.equal(left.messages, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A remote that speaks just enough 3.1.1 to a bridge: CONNACK with its session present, SUBACK,
 * and the packets a test sends it; it records the types of the packets the bridge sends.
 */
class ScriptedRemote {
  readonly #server: net.Server;
  readonly types: number[] = [];
  socket: net.Socket | undefined;
  port = 0;

  constructor() {
    this.#server = net.createServer((socket) => {
      this.socket = socket;
      socket.on("error", () => {});
      const framer = new PacketFramer(1 << 20);
      socket.on("data", (chunk) => {
        framer.push(chunk);
        for (let frame = framer.next(); frame; frame = framer.next()) {
          const type = frame[0] >> 4;
          this.types.push(type);
          if (type === 1) socket.write(Uint8Array.of(0x20, 2, 1, 0));
          if (type === 8) socket.write(Uint8Array.of(0x90, 3, frame[2], frame[3], 2));
          if (type === 12) socket.write(Uint8Array.of(0xd0, 0));
        }
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** A QoS 2 PUBLISH of `payload` on `c/x` under packet identifier 7. */
  publish(payload: string, dup: boolean): void {
    const body = [
      0,
      3,
      ...new TextEncoder().encode("c/x"),
      0,
      7,
      ...new TextEncoder().encode(payload),
    ];
    this.socket!.write(Uint8Array.of(0x34 | (dup ? 0x08 : 0), body.length, ...body));
  }

  release(): void {
    this.socket!.write(Uint8Array.of(0x62, 2, 0, 7));
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

test("a QoS 2 message from the remote PUBREC'd before a restart is not routed again when the remote sends it again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bridge-receive-"));
  const remote = new ScriptedRemote();
  await remote.listen();
  const config = {
    persistence: { path: join(dir, "broker.db") },
    bridges: {
      up: {
        address: `mqtt://127.0.0.1:${remote.port}`,
        protocol: 4 as const,
        "clean-start": false,
        topics: [{ pattern: "c/#", direction: "in" as const, qos: 2 as const }],
        reconnect: { min: 0.05, max: 0.2 },
      },
    },
  };
  try {
    const first = await startBroker(config);
    const before = record(first.broker, "c/#");
    // With its remote session present the bridge does not subscribe again: CONNECT is enough.
    await eventually(() => remote.types.includes(1), WAIT, "the bridge's CONNECT");
    remote.publish("once", false);
    await eventually(() => remote.types.includes(5), WAIT, "PUBREC");
    assert.deepEqual(before.map((m) => m.payload), ["once"]);
    // The remote missed that PUBREC: after the restart it sends the PUBLISH again.
    await first.broker.close();
    remote.types.length = 0;

    const second = await startBroker(config);
    const after = record(second.broker, "c/#");
    try {
      await eventually(() => remote.types.includes(1), WAIT, "the bridge's CONNECT again");
      remote.publish("once", true);
      await eventually(() => remote.types.includes(5), WAIT, "PUBREC again");
      remote.release();
      await eventually(() => remote.types.includes(7), WAIT, "PUBCOMP");
      assert.deepEqual(after, []);
    } finally {
      await second.broker.close();
    }
  } finally {
    await remote.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
