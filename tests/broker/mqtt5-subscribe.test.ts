import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { RawClient } from "../helpers/broker.ts";
import { withBroker } from "../helpers/broker.ts";

/** Subscribes with mqtt-packet's option names (nl: no local, rap, rh: retain handling). */
async function subscribe(
  c: RawClient,
  subscriptions: Record<string, unknown>[],
  properties?: Record<string, unknown>,
  messageId = 1,
): Promise<number[]> {
  c.send({ cmd: "subscribe", messageId, subscriptions, properties });
  return (await c.next("suback")).granted as number[];
}

describe("MQTT 5 subscription options", () => {
  test("no local: a client's own messages skip that subscription, not an overlapping one", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "nl/only", qos: 0, nl: true }]);
      await subscribe(
        c,
        [{ topic: "nl/+", qos: 0, nl: true }, { topic: "nl/both", qos: 0 }],
        {},
        2,
      );
      const other = await raw(5);
      await other.handshake();
      await subscribe(other, [{ topic: "nl/#", qos: 0, nl: true }]);
      c.send({ cmd: "publish", topic: "nl/only", payload: "a", qos: 0 });
      c.send({ cmd: "publish", topic: "nl/both", payload: "b", qos: 0 });
      await c.settle();
      // nl/only matches only no-local subscriptions; nl/both also one without.
      const got = await c.next("publish");
      assert.equal(got.topic, "nl/both");
      assert.deepEqual(c.packets, []);
      // Another client's no-local subscription still gets them.
      assert.equal((await other.next("publish")).topic, "nl/only");
      assert.equal((await other.next("publish")).topic, "nl/both");
    }));

  test("retain as published keeps the flag on live messages; otherwise it is cleared", () =>
    withBroker({}, async ({ raw, broker }) => {
      const keep = await raw(5);
      await keep.handshake();
      await subscribe(keep, [{ topic: "rap/#", qos: 1, rap: true, rh: 2 }]);
      const clear = await raw(5);
      await clear.handshake();
      await subscribe(clear, [{ topic: "rap/#", qos: 1, rh: 2 }]);
      const both = await raw(5);
      await both.handshake();
      await subscribe(both, [{ topic: "rap/#", qos: 0, rh: 2 }, {
        topic: "rap/x",
        qos: 0,
        rap: true,
        rh: 2,
      }]);
      broker.publish({ topic: "rap/x", payload: "v", qos: 1, retain: true });
      assert.equal((await keep.next("publish")).retain, true);
      assert.equal((await clear.next("publish")).retain, false);
      // Overlapping subscriptions: retain as published if any of them has it.
      assert.equal((await both.next("publish")).retain, true);
      assert.deepEqual(both.packets, [], "one message for both subscriptions");
    }));

  test("retain handling: 0 at every SUBSCRIBE, 1 only for a new subscription, 2 never", () =>
    withBroker({}, async ({ raw, broker }) => {
      broker.publish({ topic: "rh/x", payload: "kept", qos: 0, retain: true });
      for (const [rh, expected] of [[0, [1, 1]], [1, [1, 0]], [2, [0, 0]]] as const) {
        const c = await raw(5);
        await c.handshake();
        for (const [i, count] of expected.entries()) {
          await subscribe(c, [{ topic: "rh/#", qos: 0, rh }], {}, i + 1);
          await c.settle();
          const got = c.packets.splice(0).filter((p) => p.cmd === "publish");
          assert.equal(got.length, count, `retain handling ${rh}, SUBSCRIBE ${i + 1}`);
          for (const p of got) assert.equal(p.retain, true, "retained messages keep retain 1");
        }
      }
    }));

  test("retained messages keep their properties", () =>
    withBroker({}, async ({ raw }) => {
      const publisher = await raw(5);
      await publisher.handshake();
      const userProperties = { b: "2", a: "1" };
      publisher.send({
        cmd: "publish",
        topic: "rp/x",
        payload: "v",
        qos: 1,
        messageId: 1,
        retain: true,
        properties: {
          contentType: "text/plain",
          correlationData: Buffer.from([7]),
          userProperties,
        },
      });
      await publisher.next("puback");
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "rp/#", qos: 1 }]);
      const got = await c.next("publish");
      assert.equal(got.retain, true);
      const p = got.properties as Record<string, unknown>;
      assert.equal(p.contentType, "text/plain");
      assert.deepEqual([...(p.correlationData as Buffer)], [7]);
      assert.deepEqual(Object.entries(p.userProperties as object), Object.entries(userProperties));
    }));
});

describe("MQTT 5 subscription identifiers", () => {
  test("every matching subscription's identifier comes with the message", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "id/#", qos: 1 }], { subscriptionIdentifier: 7 });
      await subscribe(c, [{ topic: "id/+", qos: 0 }], { subscriptionIdentifier: 300 }, 2);
      await subscribe(c, [{ topic: "id/x", qos: 0 }], {}, 3);
      const plain = await raw(5);
      await plain.handshake();
      await subscribe(plain, [{ topic: "id/#", qos: 1 }]);
      const same = await raw(5);
      await same.handshake();
      await subscribe(same, [{ topic: "id/#", qos: 1 }], { subscriptionIdentifier: 7 });
      broker.publish({ topic: "id/x", payload: "1", qos: 1 });
      const got = await c.next("publish");
      assert.equal(got.qos, 1);
      const ids = got.properties?.subscriptionIdentifier;
      assert.deepEqual([ids].flat().sort((a, b) => Number(a) - Number(b)), [7, 300]);
      assert.deepEqual(c.packets, [], "one message for the three subscriptions");
      assert.equal((await plain.next("publish")).properties, undefined);
      assert.equal((await same.next("publish")).properties?.subscriptionIdentifier, 7);
      // A message that matches only the filter without an identifier carries none.
      broker.publish({ topic: "id/x/y", payload: "2", qos: 0 });
      assert.equal((await c.next("publish")).properties?.subscriptionIdentifier, 7);
    }));

  test("retained messages sent on subscribe carry that subscription's identifier", () =>
    withBroker({}, async ({ raw, broker }) => {
      broker.publish({ topic: "rid/x", payload: "kept", qos: 1, retain: true });
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "rid/#", qos: 1 }], { subscriptionIdentifier: 42 });
      const got = await c.next("publish");
      assert.equal(got.retain, true);
      assert.equal(got.properties?.subscriptionIdentifier, 42);
      // A replaced subscription keeps its filter with the new identifier.
      await subscribe(c, [{ topic: "rid/#", qos: 1 }], { subscriptionIdentifier: 43 }, 2);
      assert.equal((await c.next("publish")).properties?.subscriptionIdentifier, 43);
      c.send({ cmd: "puback", messageId: got.messageId });
    }));

  test("a queued message keeps its identifiers until the session reconnects", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await raw(5);
      await c.handshake({
        clientId: "sid-q",
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      await subscribe(c, [{ topic: "q/#", qos: 1 }], { subscriptionIdentifier: 9 });
      c.destroy();
      await c.closed;
      broker.publish({ topic: "q/x", payload: "later", qos: 1 });
      const back = await raw(5);
      await back.handshake({
        clientId: "sid-q",
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      const got = await back.next("publish");
      assert.equal(String(got.payload), "later");
      assert.equal(got.properties?.subscriptionIdentifier, 9);
    }));
});
