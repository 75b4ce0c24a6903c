import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, type Packet, withBroker } from "../helpers/broker.ts";

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

  test("a resumed session resends its in-flight messages before broker_client_connected", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      let armed = false;
      broker.on("broker_client_connected", (c) => {
        if (armed && c.clientId === "first") {
          broker.publish({ topic: "f/new", payload: "new", qos: 1 });
        }
      });
      const sub = await raw();
      await sub.handshake({ clientId: "first", clean: false });
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "f/#", qos: 1 }] });
      await sub.next("suback");
      const pub = await client();
      await pub.publishAsync("f/old", "old", { qos: 1 });
      await sub.next("publish");
      sub.destroy();
      armed = true;
      const again = await raw();
      await again.handshake({ clientId: "first", clean: false });
      const [first, second] = [await again.next("publish"), await again.next("publish")];
      assert.deepEqual([String(first.payload), first.dup], ["old", true]);
      assert.deepEqual([String(second.payload), second.dup], ["new", false]);
    }));

  test("PUBRELs are resent in the order their PUBRECs arrived", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const sub = await raw();
      await sub.handshake({ clientId: "rel", clean: false });
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "rel/#", qos: 2 }] });
      await sub.next("suback");
      const pub = await client();
      for (const n of [1, 2, 3]) await pub.publishAsync(`rel/${n}`, `m${n}`, { qos: 2 });
      const sent: Packet[] = [];
      for (let i = 0; i < 3; i++) sent.push(await sub.next("publish"));
      const ids = sent.map((p) => p.messageId as number);
      // m3 then m1 are received; m2 stays unacknowledged.
      for (const id of [ids[2], ids[0]]) {
        sub.send({ cmd: "pubrec", messageId: id });
        assert.equal((await sub.next("pubrel")).messageId, id);
      }
      sub.destroy();
      const again = await raw();
      await again.handshake({ clientId: "rel", clean: false });
      const resent: Packet[] = [];
      for (let i = 0; i < 3; i++) resent.push(await again.next());
      assert.deepEqual(
        resent.filter((p) => p.cmd === "pubrel").map((p) => p.messageId),
        [ids[2], ids[0]],
      );
      const publish = resent.find((p) => p.cmd === "publish");
      assert.deepEqual([publish?.messageId, String(publish?.payload), publish?.dup], [
        ids[1],
        "m2",
        true,
      ]);
      // Moved messages still complete.
      again.send({ cmd: "pubrec", messageId: ids[1] });
      assert.equal((await again.next("pubrel")).messageId, ids[1]);
      for (const id of ids) again.send({ cmd: "pubcomp", messageId: id });
      await eventually(() => broker.gauges.inflight === 0, 5000, "every message to complete");
    }));

  test("taking over a clean session with clean session 0 starts a new, stored session", () =>
    withBroker({}, async ({ raw, broker }) => {
      const first = await raw();
      await first.handshake({ clientId: "switch", clean: true });
      const second = await raw();
      const connack = await second.handshake({ clientId: "switch", clean: false });
      assert.equal(connack.sessionPresent, false, "the clean session ended with its connection");
      await first.waitClosed();
      assert.equal(broker.gauges.sessionsTotal, 1);
      second.destroy();
      await eventually(() => broker.gauges.sessionsDisconnected === 1, 5000, "the stored session");
    }));
});
