import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

describe("PUBLISH", () => {
  for (const qos of [0, 1, 2] as const) {
    test(`QoS ${qos} round trip, both directions`, () =>
      withBroker({}, async ({ client }) => {
        const sub = await client();
        const got = collect(sub);
        await sub.subscribeAsync("t/q", { qos });
        const pub = await client();
        await pub.publishAsync("t/q", `m${qos}`, { qos });
        await eventually(() => got.length === 1, 5000, "the message");
        assert.equal(got[0].payload, `m${qos}`);
        assert.equal(got[0].qos, qos);
        assert.equal(got[0].retain, false);
      }));
  }

  test("delivered QoS is the minimum of publish and subscription", () =>
    withBroker({}, async ({ client }) => {
      const sub0 = await client();
      const sub2 = await client();
      const got0 = collect(sub0);
      const got2 = collect(sub2);
      await sub0.subscribeAsync("min", { qos: 0 });
      await sub2.subscribeAsync("min", { qos: 2 });
      const pub = await client();
      await pub.publishAsync("min", "a", { qos: 2 });
      await pub.publishAsync("min", "b", { qos: 1 });
      await eventually(() => got0.length === 2 && got2.length === 2, 5000, "four messages");
      assert.deepEqual(got0.map((m) => m.qos), [0, 0]);
      assert.deepEqual(got2.map((m) => m.qos), [2, 1]);
    }));

  test("overlapping subscriptions give one copy at the highest matching QoS", () =>
    withBroker({}, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync({ "o/+": { qos: 0 }, "o/#": { qos: 2 }, "o/x": { qos: 1 } });
      const pub = await client();
      await pub.publishAsync("o/x", "once", { qos: 2 });
      await pub.publishAsync("o/end", "marker", { qos: 0 });
      await eventually(() => got.some((m) => m.payload === "marker"), 5000, "the marker");
      const copies = got.filter((m) => m.payload === "once");
      assert.equal(copies.length, 1);
      assert.equal(copies[0].qos, 2);
    }));

  test("messages from one publisher arrive in order at each QoS", () =>
    withBroker({}, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("ord/#", { qos: 2 });
      const pub = await client();
      const sends = [];
      for (let i = 0; i < 200; i++) {
        sends.push(pub.publishAsync(`ord/${i % 3}`, String(i), { qos: (i % 3) as 0 | 1 | 2 }));
      }
      await Promise.all(sends);
      await eventually(() => got.length === 200, 10000, "200 messages");
      for (const qos of [0, 1, 2]) {
        const seq = got.filter((m) => m.topic === `ord/${qos}`).map((m) => Number(m.payload));
        assert.deepEqual(seq, [...seq].sort((a, b) => a - b), `QoS ${qos} order`);
      }
    }));

  test("QoS 2 is delivered once: a duplicate PUBLISH before PUBREL is not routed again", () =>
    withBroker({}, async ({ client, raw }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("x2", { qos: 2 });
      const c = await raw();
      await c.handshake();
      const publish = { cmd: "publish", topic: "x2", payload: "once", qos: 2, messageId: 11 };
      c.send(publish);
      assert.equal((await c.next("pubrec")).messageId, 11);
      c.send({ ...publish, dup: true });
      assert.equal((await c.next("pubrec")).messageId, 11);
      c.send({ cmd: "pubrel", messageId: 11 });
      assert.equal((await c.next("pubcomp")).messageId, 11);
      // The same identifier after PUBCOMP is a new message.
      c.send({ ...publish, payload: "twice" });
      await c.next("pubrec");
      c.send({ cmd: "pubrel", messageId: 11 });
      await c.next("pubcomp");
      await eventually(() => got.length === 2, 5000, "two messages");
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got.map((m) => m.payload), ["once", "twice"]);
    }));

  test("PUBREL for an unknown identifier still gets PUBCOMP", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      await c.handshake();
      c.send({ cmd: "pubrel", messageId: 99 });
      assert.equal((await c.next("pubcomp")).messageId, 99);
    }));

  test("the embedding API publishes, and sees every message", () =>
    withBroker({}, async ({ broker, client }) => {
      const seen: string[] = [];
      broker.on(
        "broker_message_received",
        (from, m) => void seen.push(`${from?.clientId ?? "broker"}:${m.topic}`),
      );
      const sub = await client({ clientId: "s" });
      const got = collect(sub);
      await sub.subscribeAsync("api/#", { qos: 1 });
      broker.publish({ topic: "api/one", payload: "from app", qos: 1 });
      await sub.publishAsync("api/two", "from client");
      await eventually(() => got.length === 2, 5000, "two messages");
      assert.deepEqual(got.map((m) => m.payload).sort(), ["from app", "from client"]);
      assert.deepEqual(seen.sort(), ["broker:api/one", "s:api/two"]);
      assert.throws(() => broker.publish({ topic: "bad/+" }), /wildcard/);
    }));

  test("clients cannot publish into $SYS", () =>
    withBroker({}, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("$SYS/#");
      const pub = await client();
      await pub.publishAsync("$SYS/fake", "x", { qos: 1 });
      await sub.publishAsync("marker", "m");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(got.filter((m) => m.topic === "$SYS/fake").length, 0);
    }));

  test("the embedding API refuses what MQTT cannot carry, with a clear error", () =>
    withBroker({}, ({ broker }) => {
      const publish = (options: Record<string, unknown>) => () =>
        broker.publish(options as unknown as Parameters<typeof broker.publish>[0]);
      assert.throws(publish({ topic: "é".repeat(32768) }), {
        name: "RangeError",
        message: /over 65535 bytes of UTF-8/,
      });
      broker.publish({ topic: "é".repeat(32767) });
      for (const qos of [3, -1, 1.5, "1"]) {
        assert.throws(publish({ topic: "t", qos }), {
          name: "RangeError",
          message: /qos must be 0, 1 or 2/,
        });
      }
      for (
        const [payload, what] of [[42, "number"], [null, "null"], [
          new ArrayBuffer(1),
          "ArrayBuffer",
        ], [
          [1, 2],
          "Array",
        ]] as const
      ) {
        assert.throws(publish({ topic: "t", payload }), {
          name: "TypeError",
          message: new RegExp(`payload must be a string or a Uint8Array, not ${what}`),
        });
      }
      assert.throws(publish({ topic: 7 }), {
        name: "TypeError",
        message: /topic must be a string/,
      });
      assert.throws(publish({ topic: "t", retain: "yes" }), {
        name: "TypeError",
        message: /retain must be a boolean/,
      });
      return Promise.resolve();
    }));

  test("an event listener that returns a value is not a failure; one that rejects is", () =>
    withBroker({}, async ({ broker, client, logger }) => {
      const seen: string[] = [];
      broker.on("broker_client_connected", (c) => seen.push(c.clientId) as unknown as void);
      broker.on("broker_client_connected", () => Promise.reject(new Error("listener broke")));
      await client({ clientId: "counted" });
      await eventually(
        () => logger.lines.some((l) => /listener broke/.test(l)),
        5000,
        "the rejection to be logged",
      );
      assert.deepEqual(seen, ["counted"]);
      const failures = logger.lines.filter((l) => /^error .*listener failed/.test(l));
      assert.equal(failures.length, 1, failures.join("\n"));
    }));
});
