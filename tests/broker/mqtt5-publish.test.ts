import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Packet } from "../helpers/broker.ts";
import { eventually, withBroker } from "../helpers/broker.ts";

/** The properties a 5.0 publisher sets, all of which a 5.0 subscriber must get unchanged. */
const properties = {
  payloadFormatIndicator: true,
  contentType: "text/plain",
  responseTopic: "reply/here",
  correlationData: Buffer.from([1, 2, 3]),
  userProperties: { first: "1", second: "2" },
};

const acl = {
  "topic-check": {
    enabled: true,
    plugins: ["topic_acl"],
    acl: { anonymous: ["ok/#"] },
    "publish-acl": { anonymous: ["ok/#"] },
  },
};

describe("MQTT 5 PUBLISH", () => {
  test("properties reach 5.0 subscribers in order; 3.1.1 subscribers get the bare message", () =>
    withBroker({}, async ({ raw }) => {
      const five = await raw(5);
      await five.handshake();
      const four = await raw();
      await four.handshake();
      for (const c of [five, four]) {
        c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "p/#", qos: 1 }] });
        await c.next("suback");
      }
      const publisher = await raw(5);
      await publisher.handshake();
      publisher.send({
        cmd: "publish",
        topic: "p/x",
        payload: "body",
        qos: 1,
        messageId: 9,
        properties,
      });
      assert.equal((await publisher.next("puback")).reasonCode, 0);
      const got5 = await five.next("publish");
      assert.equal(String(got5.payload), "body");
      const { userProperties, ...rest } = got5.properties as Record<string, unknown>;
      const { userProperties: sentUser, ...sentRest } = properties;
      assert.deepEqual(rest, sentRest);
      assert.deepEqual(Object.entries(userProperties as object), Object.entries(sentUser));
      const got4 = await four.next("publish");
      assert.equal(String(got4.payload), "body");
      assert.equal(got4.properties, undefined);
    }));

  test("a 3.1.1 publisher's message reaches 5.0 subscribers, at each one's QoS", () =>
    withBroker({}, async ({ raw }) => {
      const subs = [];
      for (const qos of [0, 1, 2]) {
        const c = await raw(5);
        await c.handshake();
        c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "q", qos }] });
        await c.next("suback");
        subs.push(c);
      }
      const publisher = await raw();
      await publisher.handshake();
      publisher.send({ cmd: "publish", topic: "q", payload: "from 3.1.1", qos: 2, messageId: 3 });
      await publisher.next("pubrec");
      for (const [qos, c] of subs.entries()) {
        const p: Packet = await c.next("publish");
        assert.equal(String(p.payload), "from 3.1.1");
        assert.equal(p.qos, qos);
        assert.equal(p.properties, undefined);
      }
    }));

  test("PUBACK/PUBREC say 0x10 with no subscriber and 0x87 when the topic is denied", () =>
    withBroker(acl, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({ cmd: "publish", topic: "ok/none", payload: "x", qos: 1, messageId: 1 });
      assert.equal((await c.next("puback")).reasonCode, 0x10);
      c.send({ cmd: "publish", topic: "denied", payload: "x", qos: 1, messageId: 2 });
      assert.equal((await c.next("puback")).reasonCode, 0x87);
      c.send({ cmd: "publish", topic: "denied", payload: "x", qos: 2, messageId: 3 });
      assert.equal((await c.next("pubrec")).reasonCode, 0x87);
      c.send({ cmd: "subscribe", messageId: 4, subscriptions: [{ topic: "ok/#", qos: 2 }] });
      await c.next("suback");
      c.send({ cmd: "publish", topic: "ok/some", payload: "x", qos: 2, messageId: 5 });
      // Its own message comes first: the broker routes before it acknowledges.
      assert.equal((await c.next("publish")).topic, "ok/some");
      assert.equal((await c.next("pubrec")).reasonCode, 0);
      c.send({ cmd: "pubrel", messageId: 5 });
      assert.equal((await c.next("pubcomp")).reasonCode, 0);
      // An unknown packet identifier is released all the same, with "not found".
      c.send({ cmd: "pubrel", messageId: 77 });
      assert.equal((await c.next("pubcomp")).reasonCode, 0x92);
    }));

  test("a 5.0 subscriber acknowledges QoS 1 and 2 deliveries, and a refused PUBREC ends the flow", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "d/#", qos: 2 }] });
      await c.next("suback");
      broker.publish({ topic: "d/1", payload: "one", qos: 2 });
      const p = await c.next("publish");
      c.send({ cmd: "pubrec", messageId: p.messageId, reasonCode: 0x80 });
      await eventually(() => broker.gauges.inflight === 0, 5000, "the flow to end");
      assert.deepEqual(c.packets, [], "no PUBREL after a refusing PUBREC");
    }));
});

describe("MQTT 5 SUBACK and UNSUBACK", () => {
  test("granted QoS, 0x87 denied, 0x97 over max-subscriptions (shared ones count too)", () =>
    withBroker({ ...acl, "max-subscriptions-per-session": 2 }, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [
          { topic: "ok/a", qos: 2 },
          { topic: "secret", qos: 1 },
          { topic: "$share/g/ok/b", qos: 1 },
          { topic: "ok/b", qos: 1 },
          { topic: "ok/c", qos: 0 },
        ],
      });
      assert.deepEqual((await c.next("suback")).granted, [2, 0x87, 1, 0x97, 0x97]);
      c.send({ cmd: "unsubscribe", messageId: 3, unsubscriptions: ["ok/a", "ok/nothing"] });
      assert.deepEqual((await c.next("unsuback")).granted, [0, 0x11]);
      c.send({
        cmd: "subscribe",
        messageId: 2,
        subscriptions: [{ topic: "ok/d", qos: 0 }],
        properties: { subscriptionIdentifier: 5 },
      });
      assert.deepEqual((await c.next("suback")).granted, [0]);
    }));

  test("3.1.1 reads every refusal as 0x80", () =>
    withBroker({ ...acl, "max-subscriptions-per-session": 1 }, async ({ raw }) => {
      const c = await raw();
      await c.handshake();
      c.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [
          { topic: "ok/a", qos: 1 },
          { topic: "secret", qos: 1 },
          { topic: "ok/b", qos: 1 },
          { topic: "$share/g/ok/c", qos: 1 },
        ],
      });
      assert.deepEqual((await c.next("suback")).granted, [1, 0x80, 0x80, 0x80]);
    }));

  test("a malformed filter is DISCONNECT 0x81, not a SUBACK code", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/#/b", qos: 0 }] });
      assert.equal((await c.next("disconnect")).reasonCode, 0x81);
      await c.waitClosed();
    }));
});
