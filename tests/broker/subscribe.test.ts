import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

describe("SUBSCRIBE and UNSUBSCRIBE", () => {
  for (const bad of ["bad/#/x", "a+/b", ""]) {
    test(`SUBSCRIBE with the malformed filter ${JSON.stringify(bad)} closes the connection`, () =>
      withBroker({}, async ({ raw, broker }) => {
        const c = await raw();
        await c.handshake();
        c.send({
          cmd: "subscribe",
          messageId: 3,
          subscriptions: [{ topic: "ok/+", qos: 1 }, { topic: bad, qos: 1 }],
        });
        await c.waitClosed();
        assert.deepEqual(c.packets, [], "no SUBACK");
        assert.equal(broker.gauges.subscriptions, 0, "not even the valid filter");
      }));

    test(`UNSUBSCRIBE with the malformed filter ${JSON.stringify(bad)} closes the connection`, () =>
      withBroker({}, async ({ raw, broker }) => {
        const c = await raw();
        await c.handshake({ clean: false });
        c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "ok/+", qos: 1 }] });
        await c.next("suback");
        c.send({ cmd: "unsubscribe", messageId: 4, unsubscriptions: ["ok/+", bad] });
        await c.waitClosed();
        assert.deepEqual(c.packets, [], "no UNSUBACK");
        assert.equal(broker.gauges.subscriptions, 1, "ok/+ is still subscribed");
      }));
  }

  test("subscribing again replaces the QoS", () =>
    withBroker({}, async ({ client, broker }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("re", { qos: 2 });
      await sub.subscribeAsync("re", { qos: 0 });
      assert.equal(broker.gauges.subscriptions, 1);
      const pub = await client();
      await pub.publishAsync("re", "x", { qos: 2 });
      await eventually(() => got.length === 1, 5000, "the message");
      assert.equal(got[0].qos, 0);
    }));

  test("a/# matches a; +/# matches everything but $ topics", () =>
    withBroker({ sys_interval: 0 }, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("a/#");
      const pub = await client();
      await pub.publishAsync("a", "parent", { qos: 1 });
      await pub.publishAsync("a/b/c", "child", { qos: 1 });
      await pub.publishAsync("ab", "other", { qos: 1 });
      await eventually(() => got.length === 2, 5000, "two messages");
      assert.deepEqual(got.map((m) => m.payload), ["parent", "child"]);
    }));

  test("UNSUBSCRIBE stops delivery and is acknowledged even for unknown filters", () =>
    withBroker({}, async ({ client, raw, broker }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("u/1");
      await sub.unsubscribeAsync("u/1");
      assert.equal(broker.gauges.subscriptions, 0);
      const c = await raw();
      await c.handshake();
      c.send({ cmd: "unsubscribe", messageId: 4, unsubscriptions: ["never/subscribed"] });
      assert.equal((await c.next("unsuback")).messageId, 4);
      const pub = await client();
      await pub.publishAsync("u/1", "x", { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.length, 0);
    }));

  test("subscribe and unsubscribe events", () =>
    withBroker({}, async ({ client, broker }) => {
      const seen: string[] = [];
      broker.on("broker_client_subscribed", (c, f, q) =>
        void seen.push(`sub ${c.clientId} ${f} ${q}`));
      broker.on("broker_client_unsubscribed", (c, f) =>
        void seen.push(`unsub ${c.clientId} ${f}`));
      const c = await client({ clientId: "ev" });
      await c.subscribeAsync("e/#", { qos: 1 });
      await c.unsubscribeAsync("e/#");
      assert.deepEqual(seen, ["sub ev e/# 1", "unsub ev e/#"]);
    }));
});
