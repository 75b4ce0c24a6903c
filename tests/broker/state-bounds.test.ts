import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sysValues } from "../../src/plugins/builtin/broker_sys.ts";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

/** Without broker_sys, whose retained `$SYS/broker/version` would count against the bounds. */
const NO_SYS = { plugins: ["auth_anonymous"] };

const warnings = (lines: string[], key: string) =>
  lines.filter((line) => line.startsWith(`warn ${key} reached`));

describe("bounds on the state clients create", () => {
  test("past max-retained-messages a retained message is delivered but not stored", () =>
    withBroker({ ...NO_SYS, "max-retained-messages": 2 }, async ({ broker, client, logger }) => {
      const live = await client();
      const got = collect(live);
      await live.subscribeAsync("r/#");
      const pub = await client();
      for (const t of ["r/1", "r/2", "r/3", "r/4"]) {
        await pub.publishAsync(t, t, { qos: 1, retain: true });
      }
      await eventually(() => got.length === 4, 5000, "every message live");
      assert.equal(broker.gauges.retained, 2);
      assert.equal(broker.stats.retainedDropped, 2);
      assert.equal(warnings(logger.lines, "max-retained-messages").length, 1, "logged once");
      assert.equal(sysValues(broker)["messages/retained/dropped"], 2);
      await pub.publishAsync("r/1", "r/1 again", { qos: 1, retain: true });
      await pub.publishAsync("r/2", "", { qos: 1, retain: true });
      await pub.publishAsync("r/3", "r/3 now", { qos: 1, retain: true });
      assert.equal(broker.stats.retainedDropped, 2, "replacing and deleting are no new messages");
      const late = await client();
      const stored = collect(late);
      await late.subscribeAsync("r/#");
      await eventually(() => stored.length === 2, 5000, "the stored messages");
      assert.deepEqual(stored.map((m) => m.payload).sort(), ["r/1 again", "r/3 now"]);
    }));

  test("max-retained-bytes counts topic and payload; a replacement over it deletes the old", () =>
    withBroker({ ...NO_SYS, "max-retained-bytes": 10 }, async ({ broker, client, logger }) => {
      const pub = await client();
      await pub.publishAsync("ab", "12345678", { qos: 1, retain: true });
      assert.equal(broker.gauges.retained, 1);
      assert.equal(broker.gauges.retainedBytes, 10);
      await pub.publishAsync("ab", "123456789", { qos: 1, retain: true });
      assert.equal(broker.gauges.retained, 0, "no outdated value is kept");
      assert.equal(broker.stats.retainedDropped, 1);
      assert.equal(warnings(logger.lines, "max-retained-bytes").length, 1);
    }));

  test("past max-sessions a new client id gets CONNACK 3; resuming and taking over still work", () =>
    withBroker({ "max-sessions": 2 }, async ({ broker, raw, logger }) => {
      const kept = await raw();
      await kept.handshake({ clientId: "kept", clean: false });
      kept.destroy();
      await kept.closed;
      const live = await raw();
      await live.handshake({ clientId: "live" });
      for (const id of ["new-1", "new-2"]) {
        const refused = await raw();
        assert.equal((await refused.handshake({ clientId: id })).returnCode, 3);
        await refused.waitClosed();
      }
      assert.equal(broker.stats.sessionsRefused, 2);
      assert.equal(broker.gauges.sessionsTotal, 2);
      assert.equal(warnings(logger.lines, "max-sessions").length, 1, "logged once");
      assert.equal(sysValues(broker)["clients/refused/sessions"], 2);
      const back = await raw();
      const resumed = await back.handshake({ clientId: "kept", clean: false });
      assert.equal(resumed.returnCode, 0);
      assert.equal(resumed.sessionPresent, true);
      const takeover = await raw();
      assert.equal((await takeover.handshake({ clientId: "live" })).returnCode, 0);
      await live.waitClosed();
    }));

  test("a disconnected persistent session expires after persistent-session-expiry", () =>
    withBroker({ "persistent-session-expiry": 0.5 }, async ({ broker, raw, logger }) => {
      const a = await raw();
      await a.handshake({ clientId: "a", clean: false });
      a.destroy();
      await a.closed;
      const back = await raw();
      await back.handshake({ clientId: "a", clean: false });
      const b = await raw();
      await b.handshake({ clientId: "b", clean: false });
      b.destroy();
      await b.closed;
      // b's deadline is later than the one a had before it came back.
      await eventually(
        () => logger.lines.includes("debug session b expired"),
        10000,
        "b to expire",
      );
      assert.equal(logger.lines.includes("debug session a expired"), false, "a is connected");
      back.send({ cmd: "pingreq" });
      await back.next("pingresp");
      assert.equal(broker.gauges.sessionsTotal, 1);
      assert.equal(sysValues(broker)["clients/expired"], 1);
      const again = await raw();
      assert.equal((await again.handshake({ clientId: "b", clean: false })).sessionPresent, false);
    }));

  test("past max-subscriptions-per-session a new filter gets 0x80; changing a QoS does not count", () =>
    withBroker({ "max-subscriptions-per-session": 2 }, async ({ broker, raw, logger }) => {
      const c = await raw();
      await c.handshake();
      const subscribe = async (id: number, topics: [string, number][]) => {
        c.send({
          cmd: "subscribe",
          messageId: id,
          subscriptions: topics.map(([topic, qos]) => ({ topic, qos })),
        });
        return (await c.next("suback")).granted;
      };
      assert.deepEqual(await subscribe(1, [["a", 0], ["b", 1], ["c", 1]]), [0, 1, 0x80]);
      assert.deepEqual(await subscribe(2, [["a", 2]]), [2]);
      assert.deepEqual(await subscribe(3, [["d", 0]]), [0x80]);
      c.send({ cmd: "unsubscribe", messageId: 4, unsubscriptions: ["b"] });
      await c.next("unsuback");
      assert.deepEqual(await subscribe(5, [["d", 0]]), [0]);
      assert.equal(broker.stats.subscriptionsRefused, 2);
      assert.equal(broker.gauges.subscriptions, 2);
      assert.equal(warnings(logger.lines, "max-subscriptions-per-session").length, 1);
      assert.equal(sysValues(broker)["messages/subscriptions/refused"], 2);
    }));

  test("max-queued-bytes counts the topic as well as the payload", () =>
    withBroker({ "max-queued-bytes": 100 }, async ({ broker, client }) => {
      const topic = `q/${"x".repeat(38)}`;
      const a = await client({ clientId: "offline", clean: false });
      await a.subscribeAsync("q/#", { qos: 1 });
      await a.endAsync();
      const pub = await client();
      // 40 topic bytes + 10 payload bytes: two fit in 100, where payload alone would let ten.
      for (let i = 0; i < 5; i++) await pub.publishAsync(topic, "0123456789", { qos: 1 });
      assert.equal(broker.stats.droppedQueued, 3);
    }));
});
