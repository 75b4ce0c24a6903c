import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RawClient } from "../helpers/broker.ts";
import { withBroker } from "../helpers/broker.ts";
import { brokerDisconnect } from "../helpers/mqtt5.ts";

type Props = Record<string, unknown>;

async function subscribed(c: RawClient, filter: string): Promise<void> {
  assert.equal((await c.handshake()).reasonCode, 0);
  c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] });
  await c.next("suback");
}

describe("MQTT 5 inbound topic aliases", () => {
  test("an alias set with a topic names it in later PUBLISHes; subscribers get the topic", () =>
    withBroker({}, async ({ raw }) => {
      const sub = await raw(5);
      await subscribed(sub, "a/#");
      const c = await raw(5);
      const connack = await c.handshake();
      assert.equal((connack.properties as Props).topicAliasMaximum, 10);
      c.send({ cmd: "publish", topic: "a/long", payload: "1", properties: { topicAlias: 10 } });
      c.send({ cmd: "publish", topic: "", payload: "2", properties: { topicAlias: 10 } });
      c.send({ cmd: "publish", topic: "a/other", payload: "3", properties: { topicAlias: 10 } });
      c.send({ cmd: "publish", topic: "", payload: "4", properties: { topicAlias: 10 } });
      const got = [];
      for (let i = 0; i < 4; i++) {
        const p = await sub.next("publish");
        assert.equal((p.properties as Props | undefined)?.topicAlias, undefined);
        got.push([p.topic, String(p.payload)]);
      }
      assert.deepEqual(got, [["a/long", "1"], ["a/long", "2"], ["a/other", "3"], ["a/other", "4"]]);
    }));

  test("an alias over topic-alias-maximum, or unknown, is 0x94 with a reason string", () =>
    withBroker({ "topic-alias-maximum": 2 }, async ({ raw }) => {
      const over = await raw(5);
      assert.equal(((await over.handshake()).properties as Props).topicAliasMaximum, 2);
      over.send({ cmd: "publish", topic: "t", payload: "x", properties: { topicAlias: 3 } });
      const d = await brokerDisconnect(over);
      assert.equal(d.reasonCode, 0x94);
      assert.match(String((d.properties as Props).reasonString), /topic alias 3/);

      const unknown = await raw(5);
      await unknown.handshake();
      unknown.send({ cmd: "publish", topic: "", payload: "x", properties: { topicAlias: 1 } });
      assert.equal((await brokerDisconnect(unknown)).reasonCode, 0x94);
    }));

  test("topic-alias-maximum 0 accepts none", () =>
    withBroker({ "topic-alias-maximum": 0 }, async ({ raw }) => {
      const c = await raw(5);
      assert.equal(((await c.handshake()).properties as Props).topicAliasMaximum, 0);
      c.send({ cmd: "publish", topic: "t", payload: "x", properties: { topicAlias: 1 } });
      assert.equal((await brokerDisconnect(c)).reasonCode, 0x94);
    }));

  test("aliases live as long as their connection: a reconnect starts with none", () =>
    withBroker({}, async ({ raw }) => {
      const fields = {
        clientId: "aliaser",
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      };
      const a = await raw(5);
      await a.handshake(fields);
      a.send({
        cmd: "publish",
        topic: "t",
        payload: "x",
        qos: 1,
        messageId: 1,
        properties: { topicAlias: 1 },
      });
      await a.next("puback");
      a.destroy();
      const b = await raw(5);
      assert.equal((await b.handshake(fields)).sessionPresent, true);
      b.send({ cmd: "publish", topic: "", payload: "x", properties: { topicAlias: 1 } });
      assert.equal((await brokerDisconnect(b)).reasonCode, 0x94);
    }));
});

describe("MQTT 5 reason strings follow Request Problem Information", () => {
  test("DISCONNECT carries one by default and none when the client set it to 0", () =>
    withBroker({}, async ({ raw }) => {
      const told = await raw(5);
      await told.handshake();
      told.send({ cmd: "connect", protocolVersion: 5, clientId: "again" });
      const d = await brokerDisconnect(told);
      assert.equal(d.reasonCode, 0x82);
      assert.match(String((d.properties as Props).reasonString), /second CONNECT/);

      const quiet = await raw(5);
      await quiet.handshake({ properties: { requestProblemInformation: false } });
      quiet.send({ cmd: "connect", protocolVersion: 5, clientId: "again" });
      const q = await brokerDisconnect(quiet);
      assert.equal(q.reasonCode, 0x82);
      assert.equal((q.properties as Props | undefined)?.reasonString, undefined);
    }));

  test("a reason string that would exceed the client's maximum packet size is left out", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake({ properties: { maximumPacketSize: 16 } });
      c.send({ cmd: "connect", protocolVersion: 5, clientId: "again" });
      const d = await brokerDisconnect(c);
      assert.equal(d.reasonCode, 0x82);
      assert.equal((d.properties as Props | undefined)?.reasonString, undefined);
    }));

  test("a refusing CONNACK carries one, unless the client set it to 0", () =>
    withBroker({ "max-sessions": 1 }, async ({ raw }) => {
      const first = await raw(5);
      await first.handshake();
      const told = await raw(5);
      const connack = await told.handshake();
      assert.equal(connack.reasonCode, 0x97);
      assert.match(String((connack.properties as Props).reasonString), /too many sessions/);
      const quiet = await raw(5);
      const q = await quiet.handshake({ properties: { requestProblemInformation: false } });
      assert.equal(q.reasonCode, 0x97);
      assert.equal((q.properties as Props | undefined)?.reasonString, undefined);
    }));
});

describe("MQTT 5 maximum packet size (inbound)", () => {
  test("CONNACK announces max-packet-size; a larger packet gets DISCONNECT 0x95 first", () =>
    withBroker({ "max-packet-size": 128 }, async ({ raw }) => {
      const c = await raw(5);
      assert.equal(((await c.handshake()).properties as Props).maximumPacketSize, 128);
      c.send({ cmd: "publish", topic: "t", payload: "x".repeat(200) });
      assert.equal((await brokerDisconnect(c)).reasonCode, 0x95);
    }));
});
