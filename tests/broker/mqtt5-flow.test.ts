import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Packet, RawClient } from "../helpers/broker.ts";
import { withBroker } from "../helpers/broker.ts";
import { brokerDisconnect } from "../helpers/mqtt5.ts";

/**
 * Everything `c` receives up to its own QoS 0 marker on `mark/<n>`: the marker goes through the
 * broker after whatever `c` sent before it, so the packets before it are all the broker sends.
 */
async function upToMarker(c: RawClient, n: number): Promise<Packet[]> {
  c.send({ cmd: "publish", topic: `mark/${n}`, payload: "m", qos: 0 });
  const out: Packet[] = [];
  for (;;) {
    const p = await c.next();
    if (p.cmd === "publish" && p.topic === `mark/${n}`) return out;
    out.push(p);
  }
}

type Raw = (version?: 4 | 5) => Promise<RawClient>;

/** A 5.0 client subscribed to `f/#` at `qos` and to `mark/#` at QoS 0. */
async function subscriber(
  raw: Raw,
  qos: 1 | 2,
  fields: Record<string, unknown>,
): Promise<RawClient> {
  const c = await raw(5);
  assert.equal((await c.handshake(fields)).reasonCode, 0);
  c.send({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "f/#", qos }, { topic: "mark/#", qos: 0 }],
  });
  await c.next("suback");
  return c;
}

/** Publishes `count` QoS `qos` messages to `f/<i>` from a fresh 3.1.1 client, each acknowledged. */
async function publish(raw: Raw, count: number, qos: 1 | 2 = 1) {
  const p = await raw();
  await p.handshake();
  for (let i = 0; i < count; i++) {
    p.send({ cmd: "publish", topic: `f/${i}`, payload: String(i), qos, messageId: i + 1 });
    await p.next(qos === 1 ? "puback" : "pubrec");
  }
}

const publishes = (packets: Packet[]) => packets.filter((p) => p.cmd === "publish");

describe("MQTT 5 flow control: the client's Receive Maximum", () => {
  test("receive maximum 3 and no acks: exactly 3 arrive; each PUBACK lets exactly one more go", () =>
    withBroker({}, async ({ raw }) => {
      const c = await subscriber(raw, 1, { properties: { receiveMaximum: 3 } });
      await publish(raw, 6);
      const first = await upToMarker(c, 1);
      assert.deepEqual(publishes(first).map((p) => String(p.payload)), ["0", "1", "2"]);
      c.send({ cmd: "puback", messageId: first[0].messageId });
      const second = await upToMarker(c, 2);
      assert.deepEqual(publishes(second).map((p) => String(p.payload)), ["3"]);
      for (const p of [first[1], first[2], second[0]]) {
        c.send({ cmd: "puback", messageId: p.messageId });
      }
      const rest = await upToMarker(c, 3);
      assert.deepEqual(publishes(rest).map((p) => String(p.payload)), ["4", "5"]);
    }));

  test("a QoS 2 message counts until PUBCOMP, not until PUBREC", () =>
    withBroker({}, async ({ raw }) => {
      const c = await subscriber(raw, 2, { properties: { receiveMaximum: 2 } });
      await publish(raw, 3, 2);
      const first = publishes(await upToMarker(c, 1));
      assert.deepEqual(first.map((p) => String(p.payload)), ["0", "1"]);
      for (const p of first) c.send({ cmd: "pubrec", messageId: p.messageId });
      const released = await upToMarker(c, 2);
      assert.deepEqual(released.map((p) => p.cmd), ["pubrel", "pubrel"]);
      c.send({ cmd: "pubcomp", messageId: first[0].messageId });
      assert.deepEqual(publishes(await upToMarker(c, 3)).map((p) => String(p.payload)), ["2"]);
    }));

  test("max-inflight-messages below the client's receive maximum is the window", () =>
    withBroker({ "max-inflight-messages": 2 }, async ({ raw }) => {
      const c = await subscriber(raw, 1, { properties: { receiveMaximum: 100 } });
      await publish(raw, 4);
      assert.equal(publishes(await upToMarker(c, 1)).length, 2);
    }));

  test("a resumed session with a smaller receive maximum gets only that many again, then more", () =>
    withBroker({}, async ({ raw }) => {
      const fields = (receiveMaximum: number) => ({
        clientId: "resumer",
        clean: false,
        properties: { sessionExpiryInterval: 60, receiveMaximum },
      });
      const a = await subscriber(raw, 1, fields(5));
      await publish(raw, 5);
      assert.equal(publishes(await upToMarker(a, 1)).length, 5);
      a.destroy();
      const b = await raw(5);
      const connack = await b.handshake(fields(2));
      assert.equal(connack.sessionPresent, true);
      const again = publishes(await upToMarker(b, 2));
      assert.deepEqual(again.map((p) => [String(p.payload), p.dup]), [["0", true], ["1", true]]);
      b.send({ cmd: "puback", messageId: again[0].messageId });
      const next = publishes(await upToMarker(b, 3));
      assert.deepEqual(next.map((p) => [String(p.payload), p.dup]), [["2", true]]);
    }));
});

describe("MQTT 5 flow control: the broker's Receive Maximum", () => {
  test("CONNACK announces max-inflight-messages; one QoS 2 message more than that unreleased is 0x93", () =>
    withBroker({ "max-inflight-messages": 2 }, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake();
      assert.equal((connack.properties as Record<string, unknown>).receiveMaximum, 2);
      for (const id of [1, 2]) {
        c.send({ cmd: "publish", topic: "t", payload: "x", qos: 2, messageId: id });
        await c.next("pubrec");
      }
      // Released ones no longer count, and QoS 1 is answered at once.
      c.send({ cmd: "pubrel", messageId: 1 });
      await c.next("pubcomp");
      c.send({ cmd: "publish", topic: "t", payload: "x", qos: 1, messageId: 3 });
      await c.next("puback");
      c.send({ cmd: "publish", topic: "t", payload: "x", qos: 2, messageId: 4 });
      await c.next("pubrec");
      c.send({ cmd: "publish", topic: "t", payload: "x", qos: 1, messageId: 5 });
      assert.equal((await brokerDisconnect(c)).reasonCode, 0x93);
    }));

  test("a 3.1.1 client, told no receive maximum, is not held to one", () =>
    withBroker({ "max-inflight-messages": 1 }, async ({ raw }) => {
      const c = await raw();
      await c.handshake();
      for (const id of [1, 2, 3]) {
        c.send({ cmd: "publish", topic: "t", payload: "x", qos: 2, messageId: id });
        await c.next("pubrec");
      }
    }));
});
