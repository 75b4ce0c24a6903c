import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

describe("limits", () => {
  test("a packet over max-packet-size closes that connection only", () =>
    withBroker({ "max-packet-size": 1024 }, async ({ raw, client }) => {
      const healthy = await client();
      const got = collect(healthy);
      await healthy.subscribeAsync("big");
      const c = await raw();
      await c.handshake();
      c.send({ cmd: "publish", topic: "big", payload: Buffer.alloc(2000), qos: 0 });
      await c.waitClosed();
      await healthy.publishAsync("big", "small", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the small message");
      assert.equal(got[0].payload, "small");
    }));

  test("a header claiming 256 MB is refused before any body arrives", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      await c.handshake();
      c.send(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f));
      await c.waitClosed();
    }));

  test("no more than max-inflight-messages unacknowledged; the rest follow as acks arrive", () =>
    withBroker({ "max-inflight-messages": 3 }, async ({ raw, client }) => {
      const sub = await raw();
      await sub.handshake({ clientId: "slow-acker" });
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "f", qos: 1 }] });
      await sub.next("suback");
      const pub = await client();
      for (let i = 0; i < 6; i++) await pub.publishAsync("f", String(i), { qos: 1 });
      const first = [
        await sub.next("publish"),
        await sub.next("publish"),
        await sub.next("publish"),
      ];
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sub.packets.length, 0, "a fourth message came before any ack");
      for (const p of first) sub.send({ cmd: "puback", messageId: p.messageId });
      const rest = [
        await sub.next("publish"),
        await sub.next("publish"),
        await sub.next("publish"),
      ];
      assert.deepEqual([...first, ...rest].map((p) => String(p.payload)), [
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
      ]);
    }));

  test("an offline session queues at most max-queued-messages and counts the drops", () =>
    withBroker({ "max-queued-messages": 5 }, async ({ client, broker }) => {
      const a = await client({ clientId: "off", clean: false });
      await a.subscribeAsync("q", { qos: 1 });
      await a.endAsync();
      const pub = await client();
      for (let i = 0; i < 8; i++) await pub.publishAsync("q", String(i), { qos: 1 });
      assert.equal(broker.stats.droppedQueued, 3);
      const b = await client({ clientId: "off", clean: false });
      const got = collect(b);
      await eventually(() => got.length === 5, 5000, "the queued messages");
      assert.deepEqual(got.map((m) => m.payload), ["0", "1", "2", "3", "4"]);
    }));

  test("a client that sends no CONNECT within connect-timeout is closed", () =>
    withBroker({ "connect-timeout": 1 }, async ({ raw }) => {
      const c = await raw();
      await c.waitClosed(8000);
    }));
});
