import { describe, test } from "node:test";
import { memoryStore } from "../../src/store/memory/memory.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { sysValues } from "../../src/plugins/builtin/broker_sys.ts";
import type { Client } from "../../src/broker/client.ts";
import { RoutedMessage } from "../../src/broker/message.ts";
import { Session } from "../../src/broker/session.ts";
import { newStats } from "../../src/broker/stats.ts";
import { DEFAULT_LIMITS } from "../../src/config/defaults.ts";
import type { DisconnectReason } from "../../src/plugins/types.ts";
import { collect, eventually, memoryLogger, sleep, withBroker, within } from "../helpers/broker.ts";
import { connectPacket, subscribePacket } from "../helpers/hostile.ts";

const ascii = (s: string) => Array.from(new TextEncoder().encode(s));

const LIMITS = {
  "max-output-bytes": 65536,
  "max-queued-messages": 50,
  "write-timeout": 1,
};

/**
 * Publishes rounds of 64 x 16 KiB QoS 0 messages to `topic` until `done()`. Waiting for the
 * first drop is not enough: kernel buffers may still take the backlog a moment later, and only a
 * connection whose output stays stuck is one the write timeout is for.
 */
async function floodUntil(
  pub: import("mqtt").MqttClient,
  topic: string,
  done: () => boolean,
  what: string,
): Promise<void> {
  const big = Buffer.alloc(16 * 1024, 0x61);
  for (let round = 0; !done(); round++) {
    assert.ok(round < 100, `not ${what} after 100 rounds of 64 x 16 KiB`);
    for (let i = 0; i < 64; i++) pub.publish(topic, big, { qos: 0 });
    await pub.publishAsync(`${topic}/sync`, "", { qos: 1 });
    await sleep(100);
  }
}

/**
 * A subscriber that connects (clean session or not), subscribes to `filter` at QoS 1, reads its
 * SUBACK and then never reads again.
 */
async function stuckSubscriber(port: number, clientId: string, filter: string, clean = true) {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await within(new Promise((resolve) => socket.once("connect", resolve)), 5000, "a connection");
  let seen = 0;
  const subacked = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      // CONNACK (4 bytes) then SUBACK (5 bytes); nothing else comes before we stop reading.
      seen += chunk.length;
      if (seen >= 9) resolve();
    });
  });
  const connect = Buffer.from(connectPacket(clientId));
  if (!clean) connect[9] = 0;
  socket.write(connect);
  socket.write(subscribePacket([[ascii(filter), 1]]));
  await within(subacked, 5000, "CONNACK and SUBACK");
  socket.pause();
  return { socket, closed };
}

describe("slow consumers", () => {
  test("a subscriber that stops reading: drops are counted, others get every QoS 1 message, it is closed after write-timeout", () =>
    withBroker(LIMITS, async ({ port, broker, client, logger }) => {
      const reasons = new Map<string, DisconnectReason>();
      broker.on(
        "broker_client_disconnected",
        (info, reason) => void reasons.set(info.clientId, reason),
      );
      const healthy = await client();
      const got = collect(healthy);
      await healthy.subscribeAsync("flood/#", { qos: 1 });
      const stuck = await stuckSubscriber(port, "stuck", "flood/#");
      const pub = await client();
      try {
        await floodUntil(pub, "flood/0", () => broker.stats.droppedQos0 > 0, "dropping");
        // QoS 1: the stuck session's queue fills to max-queued-messages, then drops.
        const sent: string[] = [];
        for (let i = 0; i < 200; i++) {
          sent.push(String(i));
          await pub.publishAsync("flood/1", String(i), { qos: 1 });
        }
        await eventually(
          () => got.filter((m) => m.topic === "flood/1").length === 200,
          10_000,
          "every QoS 1 message at the healthy subscriber",
        );
        assert.deepEqual(got.filter((m) => m.topic === "flood/1").map((m) => m.payload), sent);
        assert.ok(broker.stats.droppedQueued > 0);
        assert.ok(broker.gauges.queued <= LIMITS["max-queued-messages"]);
        const sys = sysValues(broker);
        assert.ok(Number(sys["messages/publish/dropped/qos0"]) > 0);
        assert.ok(Number(sys["messages/publish/dropped/queued"]) > 0);
        assert.ok(logger.lines.some((l) => /^warn dropping QoS 0 messages for stuck/.test(l)));
        assert.ok(
          logger.lines.some((l) =>
            /^warn dropping QoS 1 messages for stuck: its queue is full/.test(l)
          ),
        );

        await floodUntil(pub, "flood/0", () => reasons.has("stuck"), "closed");
        assert.equal(reasons.get("stuck"), "slow");
        assert.ok(
          logger.lines.some((l) => /^debug closing stuck .*took no bytes for 1000 ms/.test(l)),
        );
        assert.equal(reasons.has(String(healthy.options.clientId)), false);
        assert.equal(broker.gauges.queued, 0, "the clean session's queue was freed with it");
      } finally {
        stuck.socket.destroy();
      }
    }));

  test("a persistent session keeps at most max-queued-messages after its slow connection is closed", () =>
    withBroker(LIMITS, async ({ port, broker, client }) => {
      const stuck = await stuckSubscriber(port, "stuck-persistent", "p/#", false);
      const pub = await client();
      try {
        for (let i = 0; i < 100; i++) await pub.publishAsync("p/1", String(i), { qos: 1 });
        const gone = () => !broker.clients.some((c) => c.clientId === "stuck-persistent");
        await floodUntil(pub, "p/0", gone, "closed by the write timeout");
        assert.ok(broker.stats.droppedQueued > 0);
        assert.equal(broker.gauges.queued, LIMITS["max-queued-messages"]);
        assert.equal(broker.gauges.sessionsDisconnected, 1);
      } finally {
        stuck.socket.destroy();
      }
    }));

  test("a slow subscriber does not hold back publishers: they get every PUBACK", () =>
    withBroker(LIMITS, async ({ port, client }) => {
      const stuck = await stuckSubscriber(port, "stuck-2", "s/#");
      const pub = await client();
      try {
        const big = Buffer.alloc(8 * 1024);
        for (let i = 0; i < 1000; i++) await pub.publishAsync("s/1", big, { qos: 1 });
      } finally {
        stuck.socket.destroy();
      }
    }));

  test("a flood of drops logs one line per kind, not one per message", () => {
    const logger = memoryLogger();
    const stats = newStats();
    const limits = { ...DEFAULT_LIMITS, maxQueuedMessages: 50 };
    const session = new Session("jammed", 0, {
      limits,
      stats,
      logger,
      mayReceive: () => true,
      store: memoryStore(),
      storeMessage: () => 0,
    });
    const full = { codec: { version: 4 }, canSend: () => false, send: () => {} };
    session.client = full as unknown as Client;
    const payload = new Uint8Array(8);
    for (let i = 0; i < 200; i++) {
      session.deliver(new RoutedMessage("t", payload, 0, false), 0, false);
      session.deliver(new RoutedMessage("t", payload, 1, false), 1, false);
    }
    assert.equal(stats.droppedQos0, 200);
    assert.equal(stats.droppedQueued, 150);
    assert.deepEqual(logger.lines, [
      "warn dropping QoS 0 messages for jammed: its connection is not taking bytes fast enough",
      "warn dropping QoS 1 messages for jammed: its queue is full",
    ]);
  });
});
