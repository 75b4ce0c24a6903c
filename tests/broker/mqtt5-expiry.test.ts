import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RawClient } from "../helpers/broker.ts";
import { eventually, sleep, withBroker } from "../helpers/broker.ts";

const persistent = { clientId: "exp-sub", clean: false, properties: { sessionExpiryInterval: 60 } };

async function publish(
  c: RawClient,
  topic: string,
  payload: string,
  expiry: number,
  retain = false,
) {
  c.send({
    cmd: "publish",
    topic,
    payload,
    qos: 1,
    messageId: 1,
    retain,
    properties: { messageExpiryInterval: expiry },
  });
  await c.next("puback");
}

describe("MQTT 5 message expiry", () => {
  test("a live message forwards its interval; 3.1.1 subscribers get none", () =>
    withBroker({}, async ({ raw }) => {
      const five = await raw(5);
      await five.handshake();
      five.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "e", qos: 1 }] });
      await five.next("suback");
      const publisher = await raw(5);
      await publisher.handshake();
      await publish(publisher, "e", "x", 30);
      assert.equal((await five.next("publish")).properties?.messageExpiryInterval, 30);
    }));

  test("a queued message is dropped once expired; another is forwarded counted down", () =>
    withBroker({}, async ({ raw, broker }) => {
      const sub = await raw(5);
      await sub.handshake(persistent);
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "q/#", qos: 1 }] });
      await sub.next("suback");
      sub.destroy();
      await eventually(() => broker.gauges.clientsConnected === 0, 5000, "the disconnect");
      const publisher = await raw(5);
      await publisher.handshake();
      await publish(publisher, "q/short", "gone", 1);
      await publish(publisher, "q/long", "kept", 60);
      assert.equal(broker.gauges.queued, 2);
      await sleep(2100);
      const back = await raw(5);
      await back.handshake(persistent);
      const got = await back.next("publish");
      assert.equal(String(got.payload), "kept");
      const left = got.properties?.messageExpiryInterval as number;
      assert.ok(left >= 1 && left <= 58, `interval counted down: ${left}`);
      back.send({ cmd: "puback", messageId: got.messageId });
      await back.settle();
      assert.deepEqual(back.packets, []);
      assert.equal(broker.stats.messagesExpired, 1);
    }));

  test("a retained message is sent counted down, and deleted once expired", () =>
    withBroker({}, async ({ raw, broker }) => {
      const publisher = await raw(5);
      await publisher.handshake();
      const base = broker.gauges.retained;
      await publish(publisher, "r/short", "soon gone", 1, true);
      await publish(publisher, "r/long", "kept", 60, true);
      assert.equal(broker.gauges.retained, base + 2);
      await sleep(1100);
      const c = await raw(5);
      await c.handshake();
      c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 0 }] });
      await c.next("suback");
      await c.settle();
      const got = c.packets.splice(0);
      assert.deepEqual(got.map((p) => String(p.payload)), ["kept"]);
      const left = got[0].properties?.messageExpiryInterval as number;
      assert.ok(left >= 1 && left <= 59, `interval counted down: ${left}`);
      await eventually(() => broker.gauges.retained === base + 1, 5000, "the sweep to delete it");
      assert.equal(broker.stats.retainedExpired, 1);
    }));
});
