import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

describe("sessions", () => {
  test("clean session 1 ends with the connection", () =>
    withBroker({}, async ({ client, broker }) => {
      const a = await client({ clientId: "c", clean: true });
      await a.subscribeAsync("s/t", { qos: 1 });
      await a.endAsync();
      await eventually(() => broker.gauges.sessionsTotal === 0, 5000, "the session to end");
      assert.equal(broker.gauges.subscriptions, 0);
      const b = await client({ clientId: "c", clean: true });
      const got = collect(b);
      const pub = await client();
      await pub.publishAsync("s/t", "x", { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.length, 0);
    }));

  test("clean session 0 keeps subscriptions, queues QoS 1/2 (not 0) and says session present", () =>
    withBroker({}, async ({ client }) => {
      const a = await client({ clientId: "p", clean: false });
      assert.equal(a.connected, true);
      await a.subscribeAsync("keep/#", { qos: 2 });
      await a.endAsync();
      const pub = await client();
      await pub.publishAsync("keep/0", "q0", { qos: 0 });
      await pub.publishAsync("keep/1", "q1", { qos: 1 });
      await pub.publishAsync("keep/2", "q2", { qos: 2 });
      const b = await client({ clientId: "p", clean: false });
      const got = collect(b);
      const present = await new Promise<boolean>((resolve) => {
        // MQTT.js has already processed CONNACK; the flag is kept on the client.
        resolve(
          (b as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket
            ?.sessionPresent ?? false,
        );
      });
      assert.equal(present, true);
      await eventually(() => got.length === 2, 5000, "the queued messages");
      assert.deepEqual(got.map((m) => `${m.payload}@${m.qos}`), ["q1@1", "q2@2"]);
    }));

  test("clean session 1 after 0 discards the stored session", () =>
    withBroker({}, async ({ client, broker }) => {
      const a = await client({ clientId: "d", clean: false });
      await a.subscribeAsync("d/t", { qos: 1 });
      await a.endAsync();
      assert.equal(broker.gauges.sessionsTotal, 1);
      const b = await client({ clientId: "d", clean: true });
      const connack =
        (b as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket;
      assert.equal(connack?.sessionPresent, false);
      assert.equal(broker.gauges.subscriptions, 0);
    }));

  test("unacknowledged QoS 1/2 messages are sent again with DUP on reconnect", () =>
    withBroker({}, async ({ raw, client }) => {
      const sub = await raw();
      await sub.handshake({ clientId: "r", clean: false });
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 2 }] });
      await sub.next("suback");
      const pub = await client();
      await pub.publishAsync("r/1", "one", { qos: 1 });
      await pub.publishAsync("r/2", "two", { qos: 2 });
      const first = [await sub.next("publish"), await sub.next("publish")];
      assert.deepEqual(first.map((p) => p.dup), [false, false]);
      // Acknowledge the QoS 2 message half-way (PUBREC), then drop the connection.
      sub.send({ cmd: "pubrec", messageId: first[1].messageId });
      await sub.next("pubrel");
      sub.destroy();
      const again = await raw();
      const connack = await again.handshake({ clientId: "r", clean: false });
      assert.equal(connack.sessionPresent, true);
      const resent = await again.next("publish");
      assert.equal(resent.dup, true);
      assert.equal(resent.messageId, first[0].messageId);
      assert.equal(String(resent.payload), "one");
      const rel = await again.next("pubrel");
      assert.equal(rel.messageId, first[1].messageId);
    }));

  test("QoS 2 receive state survives a reconnect", () =>
    withBroker({}, async ({ raw, client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("q2s", { qos: 2 });
      const a = await raw();
      await a.handshake({ clientId: "q2", clean: false });
      a.send({ cmd: "publish", topic: "q2s", payload: "x", qos: 2, messageId: 5 });
      await a.next("pubrec");
      a.destroy();
      const b = await raw();
      await b.handshake({ clientId: "q2", clean: false });
      b.send({ cmd: "publish", topic: "q2s", payload: "x", qos: 2, messageId: 5, dup: true });
      await b.next("pubrec");
      b.send({ cmd: "pubrel", messageId: 5 });
      await b.next("pubcomp");
      await eventually(() => got.length >= 1, 5000, "the message");
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.length, 1);
    }));
});
