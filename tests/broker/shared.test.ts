import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RawClient } from "../helpers/broker.ts";
import { eventually, withBroker } from "../helpers/broker.ts";

async function subscribe(
  c: RawClient,
  subscriptions: Record<string, unknown>[],
  properties?: Record<string, unknown>,
): Promise<number[]> {
  c.send({ cmd: "subscribe", messageId: 1, subscriptions, properties });
  return (await c.next("suback")).granted as number[];
}

/** The payloads of the PUBLISHes `c` has received so far (after a settle). */
async function payloads(c: RawClient): Promise<string[]> {
  await c.settle();
  return c.packets.splice(0).filter((p) => p.cmd === "publish").map((p) => String(p.payload));
}

describe("shared subscriptions", () => {
  test("each message reaches one member of each group, round-robin, 3.1.1 and 5.0 alike", () =>
    withBroker({}, async ({ raw, broker }) => {
      const members: RawClient[] = [];
      for (const version of [4, 5, 5] as const) {
        const c = await raw(version);
        await c.handshake();
        assert.deepEqual(await subscribe(c, [{ topic: "$share/g/s/#", qos: 0 }]), [0]);
        members.push(c);
      }
      const other = await raw(5);
      await other.handshake();
      await subscribe(other, [{ topic: "$share/h/s/+", qos: 0 }]);
      const plain = await raw(5);
      await plain.handshake();
      await subscribe(plain, [{ topic: "s/#", qos: 0 }]);
      for (let i = 0; i < 6; i++) broker.publish({ topic: "s/x", payload: String(i), qos: 0 });
      const got = await Promise.all(members.map(payloads));
      assert.deepEqual(got, [["0", "3"], ["1", "4"], ["2", "5"]]);
      assert.deepEqual(await payloads(other), ["0", "1", "2", "3", "4", "5"]);
      assert.deepEqual(await payloads(plain), ["0", "1", "2", "3", "4", "5"]);
    }));

  test("a member also subscribed without sharing gets one copy per subscription", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "$share/g/d", qos: 0 }, { topic: "d", qos: 0 }]);
      broker.publish({ topic: "d", payload: "x", qos: 0 });
      assert.deepEqual(await payloads(c), ["x", "x"]);
    }));

  test("QoS is the minimum of publish and member; the member's identifier comes with it", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "$share/g/q", qos: 1 }], { subscriptionIdentifier: 5 });
      broker.publish({ topic: "q", payload: "x", qos: 2 });
      const got = await c.next("publish");
      assert.equal(got.qos, 1);
      assert.equal(got.properties?.subscriptionIdentifier, 5);
    }));

  test("no retained messages on subscribe", () =>
    withBroker({}, async ({ raw, broker }) => {
      broker.publish({ topic: "r/x", payload: "kept", qos: 0, retain: true });
      const c = await raw(5);
      await c.handshake();
      await subscribe(c, [{ topic: "$share/g/r/#", qos: 0 }]);
      assert.deepEqual(await payloads(c), []);
    }));

  test("malformed share names close the connection (5.0: DISCONNECT 0x81)", () =>
    withBroker({}, async ({ raw }) => {
      for (const topic of ["$share//x", "$share/g", "$share/g/", "$share/+/x", "$share/#/x"]) {
        for (const version of [4, 5] as const) {
          const c = await raw(version);
          await c.handshake();
          c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 0 }] });
          await c.waitClosed();
          const last = c.packets.at(-1);
          if (version === 5) assert.equal(last?.reasonCode, 0x81, topic);
          else assert.equal(last, undefined, topic);
        }
      }
    }));

  test("no local on a shared subscription is a protocol error (DISCONNECT 0x82)", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "$share/g/x", qos: 0, nl: true }],
      });
      await c.waitClosed();
      assert.equal(c.packets.at(-1)?.reasonCode, 0x82);
    }));

  test("topic checks judge the filter inside the share", () =>
    withBroker({
      "topic-check": { enabled: true, plugins: ["topic_acl"], acl: { anonymous: ["ok/#"] } },
    }, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      const granted = await subscribe(c, [
        { topic: "$share/g/ok/x", qos: 1 },
        { topic: "$share/ok/secret", qos: 1 },
      ]);
      assert.deepEqual(granted, [1, 0x87]);
    }));

  test("a member that leaves with messages unacknowledged has them sent to another", () =>
    withBroker({}, async ({ raw, broker }) => {
      const first = await raw(5);
      await first.handshake();
      await subscribe(first, [{ topic: "$share/g/w", qos: 1 }]);
      const second = await raw(4);
      await second.handshake();
      await subscribe(second, [{ topic: "$share/g/w", qos: 1 }]);
      broker.publish({ topic: "w", payload: "one", qos: 1 });
      broker.publish({ topic: "w", payload: "two", qos: 1 });
      assert.equal(String((await first.next("publish")).payload), "one");
      const two = await second.next("publish");
      assert.equal(String(two.payload), "two");
      second.send({ cmd: "puback", messageId: two.messageId });
      // Its session ends with the connection, "one" unacknowledged.
      first.destroy();
      const again = await second.next("publish");
      assert.equal(String(again.payload), "one");
      assert.equal(again.dup, false, "a first delivery to this member");
      await eventually(() => broker.stats.sharedRedelivered === 1, 5000, "the count");
    }));

  test("a member that unsubscribes hands over its queued messages; in flight ones complete", () =>
    withBroker({ "max-inflight-messages": 1 }, async ({ raw, broker }) => {
      const a = await raw(5);
      await a.handshake();
      await subscribe(a, [{ topic: "$share/g/u", qos: 1 }]);
      for (let i = 0; i < 3; i++) broker.publish({ topic: "u", payload: String(i), qos: 1 });
      // The only member: one in flight, two queued.
      const inflight = await a.next("publish");
      const b = await raw(5);
      await b.handshake();
      await subscribe(b, [{ topic: "$share/g/u", qos: 1 }]);
      a.send({ cmd: "unsubscribe", messageId: 2, unsubscriptions: ["$share/g/u"] });
      await a.next("unsuback");
      const handed = await b.next("publish");
      assert.equal(String(handed.payload), "1");
      b.send({ cmd: "puback", messageId: handed.messageId });
      assert.equal(String((await b.next("publish")).payload), "2");
      a.send({ cmd: "puback", messageId: inflight.messageId });
      await eventually(() => broker.gauges.inflight === 1, 5000, "a's message to complete");
      assert.deepEqual(await payloads(a), []);
    }));

  test("a group whose only member is offline and persistent queues for it", () =>
    withBroker({}, async ({ raw, broker }) => {
      const session = { clientId: "sh-p", clean: false };
      const c = await raw(4);
      await c.handshake(session);
      await subscribe(c, [{ topic: "$share/g/p", qos: 1 }]);
      c.destroy();
      await c.closed;
      await eventually(() => broker.gauges.clientsConnected === 0, 5000, "the disconnect");
      broker.publish({ topic: "p", payload: "waiting", qos: 1 });
      const back = await raw(4);
      await back.handshake(session);
      assert.equal(String((await back.next("publish")).payload), "waiting");
    }));
});
