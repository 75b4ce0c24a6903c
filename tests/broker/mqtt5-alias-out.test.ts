import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Packet, RawClient } from "../helpers/broker.ts";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

async function subscriber(
  raw: (version: 5) => Promise<RawClient>,
  filter: string,
  connect: Record<string, unknown> = {},
  qos = 0,
): Promise<RawClient> {
  const c = await raw(5);
  await c.handshake(connect);
  c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos }] });
  await c.next("suback");
  return c;
}

/** Topic name and alias of each PUBLISH received so far. */
async function forms(c: RawClient): Promise<[string, number | undefined][]> {
  await c.settle();
  return c.packets.splice(0).filter((p) => p.cmd === "publish").map((
    p: Packet,
  ) => [p.topic as string, p.properties?.topicAlias as number | undefined]);
}

describe("MQTT 5 outbound topic aliases", () => {
  test("repeated topics go by alias, up to the client's maximum", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await subscriber(raw, "t/#", { properties: { topicAliasMaximum: 2 } });
      for (const topic of ["t/a", "t/a", "t/b", "t/c", "t/a", "t/b", "t/c"]) {
        broker.publish({ topic, payload: "x", qos: 0 });
      }
      assert.deepEqual(await forms(c), [
        ["t/a", 1],
        ["", 1],
        ["t/b", 2],
        ["t/c", undefined],
        ["", 1],
        ["", 2],
        ["t/c", undefined],
      ]);
    }));

  test("no aliases for a client that allows none, nor for 3.1.1", () =>
    withBroker({}, async ({ raw, broker }) => {
      const c = await subscriber(raw, "n");
      const four = await raw(4);
      await four.handshake();
      four.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "n", qos: 0 }] });
      await four.next("suback");
      broker.publish({ topic: "n", payload: "x", qos: 0 });
      broker.publish({ topic: "n", payload: "x", qos: 0 });
      assert.deepEqual(await forms(c), [["n", undefined], ["n", undefined]]);
      await four.settle();
      assert.deepEqual(four.packets.map((p) => p.topic), ["n", "n"]);
    }));

  test("each connection numbers its own aliases; shared encodings are patched right", () =>
    withBroker({}, async ({ raw, broker }) => {
      const aliases = { properties: { topicAliasMaximum: 10 } };
      const a = await subscriber(raw, "f/#", aliases);
      const b = await subscriber(raw, "f/y", aliases, 1);
      broker.publish({ topic: "f/x", payload: "1", qos: 0 });
      broker.publish({ topic: "f/y", payload: "2", qos: 0 });
      broker.publish({ topic: "f/y", payload: "3", qos: 1 });
      assert.deepEqual(await forms(a), [["f/x", 1], ["f/y", 2], ["", 2]]);
      assert.deepEqual(await forms(b), [["f/y", 1], ["", 1]]);
    }));

  test("resends after a reconnect do not use the old connection's aliases", () =>
    withBroker({}, async ({ raw, broker }) => {
      const session = {
        clientId: "alias-resend",
        clean: false,
        properties: { topicAliasMaximum: 5, sessionExpiryInterval: 60 },
      };
      const c = await subscriber(raw, "r", session, 1);
      broker.publish({ topic: "r", payload: "1", qos: 1 });
      broker.publish({ topic: "r", payload: "2", qos: 1 });
      assert.deepEqual(await forms(c), [["r", 1], ["", 1]]);
      c.destroy();
      await eventually(() => broker.gauges.clientsConnected === 0, 5000, "the disconnect");
      const back = await raw(5);
      await back.handshake(session);
      await back.settle();
      const resent = back.packets.splice(0);
      assert.deepEqual(resent.map((p) => [p.topic, p.properties?.topicAlias, p.dup]), [
        ["r", 1, true],
        ["", 1, true],
      ]);
    }));

  test("MQTT.js resolves the aliases to the right topics", () =>
    withBroker({}, async ({ client, broker }) => {
      const c = await client({ protocolVersion: 5, properties: { topicAliasMaximum: 3 } });
      const got = collect(c);
      await c.subscribeAsync("m/#");
      const topics = ["m/a", "m/b", "m/a", "m/c", "m/d", "m/b", "m/d"];
      for (const topic of topics) broker.publish({ topic, payload: "x", qos: 0 });
      await eventually(() => got.length === topics.length, 5000, "the messages");
      assert.deepEqual(got.map((m) => m.topic), topics);
    }));
});

describe("MQTT 5 maximum packet size (outbound)", () => {
  test("a message over the client's maximum is not sent to it, and counted", () =>
    withBroker({}, async ({ raw, broker }) => {
      const small = await subscriber(raw, "big", { properties: { maximumPacketSize: 64 } }, 1);
      const large = await subscriber(raw, "big", {}, 1);
      const four = await raw(4);
      await four.handshake();
      four.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "big", qos: 0 }] });
      await four.next("suback");
      broker.publish({ topic: "big", payload: "y".repeat(100), qos: 1 });
      broker.publish({ topic: "big", payload: "y".repeat(100), qos: 0 });
      broker.publish({ topic: "big", payload: "small", qos: 1 });
      const got = await small.next("publish");
      assert.equal(String(got.payload), "small");
      small.send({ cmd: "puback", messageId: got.messageId });
      await small.settle();
      assert.deepEqual(small.packets, []);
      assert.equal(broker.stats.droppedTooLarge, 2);
      await large.settle();
      assert.equal(large.packets.filter((p) => p.cmd === "publish").length, 3);
      await four.settle();
      assert.equal(four.packets.length, 3);
    }));
});
