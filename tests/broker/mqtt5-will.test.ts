import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type mqtt from "mqtt";
import {
  type BrokerScope,
  collect,
  eventually,
  type RawClient,
  type Received,
  withBroker,
} from "../helpers/broker.ts";

type Props = Record<string, unknown>;

/** A will on `wills/<payload>` with a will delay of `delay` seconds and more `properties`. */
function will(payload: string, delay: number, properties: Props = {}) {
  return {
    topic: `wills/${payload}`,
    payload: Buffer.from(payload),
    qos: 1,
    retain: false,
    properties: { willDelayInterval: delay, ...properties },
  };
}

/** An MQTT.js subscriber to `wills/#` and what it received. */
async function watch(client: () => Promise<mqtt.MqttClient>) {
  const watcher = await client();
  await watcher.subscribeAsync("wills/#", { qos: 1 });
  return { watcher, got: collect(watcher) };
}

/** What `got` holds once a marker sent after everything else has arrived. */
async function settled(watcher: mqtt.MqttClient, got: Received[]): Promise<string[]> {
  await watcher.publishAsync("wills/marker", "marker", { qos: 1 });
  await eventually(() => got.some((m) => m.payload === "marker"), 5000, "the marker");
  return got.map((m) => m.payload).filter((p) => p !== "marker");
}

async function connect5(c: RawClient, fields: Props): Promise<void> {
  const connack = await c.handshake(fields);
  assert.equal(connack.reasonCode, 0);
}

/**
 * A 5.0 connection of `clientId` with clean start 0, a session expiry of `expiry` seconds and
 * the will `w`, if given.
 */
async function resumable(
  raw: BrokerScope["raw"],
  clientId: string,
  expiry: number,
  w?: ReturnType<typeof will>,
): Promise<RawClient> {
  const c = await raw(5);
  await connect5(c, {
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: expiry },
    ...(w && { will: w }),
  });
  return c;
}

describe("MQTT 5 will delay", () => {
  test("the will is published once the delay is up when the client does not come back", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const { got } = await watch(client);
      const c = await resumable(raw, "late", 60, will("late", 2));
      c.destroy();
      await eventually(() => broker.clients.length === 1, 5000, "the drop");
      assert.equal(got.length, 0, "not before the delay");
      await eventually(() => got.length === 1, 8000, "the delayed will");
      assert.equal(got[0].payload, "late");
      assert.equal(broker.gauges.sessionsTotal, 2, "the session outlives its will");
    }));

  test("coming back before the delay cancels the will, also when the session ends later", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const { watcher, got } = await watch(client);
      const a = await resumable(raw, "back", 3600, will("back", 3600));
      a.destroy();
      await eventually(() => broker.clients.length === 1, 5000, "the drop");
      const b = await resumable(raw, "back", 1);
      b.send({ cmd: "disconnect", reasonCode: 0 });
      await b.waitClosed();
      // The session ends: a will still pending would go now.
      await eventually(() => broker.stats.sessionsExpired === 1, 8000, "the session to expire");
      assert.deepEqual(await settled(watcher, got), []);
    }));

  test("the will goes at session end when that comes before the delay", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const { got } = await watch(client);
      const c = await resumable(raw, "ending", 1, will("ending", 3600));
      c.destroy();
      await eventually(() => got.length === 1, 8000, "the will at session end");
      assert.equal(broker.stats.sessionsExpired, 1);
      assert.equal(got[0].payload, "ending");
    }));

  test("a session ending with its connection (expiry 0) sends a delayed will at once", () =>
    withBroker({}, async ({ raw, client }) => {
      const { got } = await watch(client);
      const c = await raw(5);
      await connect5(c, { clientId: "zero", will: will("zero", 3600) });
      c.destroy();
      await eventually(() => got.length === 1, 5000, "the will");
    }));

  test("DISCONNECT 0x04 publishes the will after its delay; 0x80 publishes it too", () =>
    withBroker({}, async ({ raw, client }) => {
      const { got } = await watch(client);
      const a = await resumable(raw, "asked", 60, will("asked", 1));
      a.send({ cmd: "disconnect", reasonCode: 0x04 });
      const b = await raw(5);
      await connect5(b, { clientId: "unspecified", will: will("unspecified", 0) });
      b.send({ cmd: "disconnect", reasonCode: 0x80 });
      await eventually(() => got.length === 2, 8000, "both wills");
      assert.deepEqual(got.map((m) => m.payload).sort(), ["asked", "unspecified"]);
    }));
});

describe("MQTT 5 will on takeover (3.1.2.5, 3.1.3.2.2)", () => {
  test("will delay 0: the old connection's will goes at takeover", () =>
    withBroker({}, async ({ raw, client }) => {
      const { got } = await watch(client);
      await resumable(raw, "twin", 60, will("twin", 0));
      await resumable(raw, "twin", 60);
      await eventually(() => got.length === 1, 5000, "the will");
    }));

  test("will delay > 0, clean start 0: the new connection continues the session, no will", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const { watcher, got } = await watch(client);
      await resumable(raw, "twin", 60, will("twin", 3600));
      const b = await resumable(raw, "twin", 1);
      b.send({ cmd: "disconnect", reasonCode: 0 });
      await eventually(() => broker.stats.sessionsExpired === 1, 8000, "the session to expire");
      assert.deepEqual(await settled(watcher, got), []);
    }));

  test("will delay > 0, clean start 1: the session ends, so the will goes", () =>
    withBroker({}, async ({ raw, client }) => {
      const { got } = await watch(client);
      await resumable(raw, "twin", 60, will("twin", 3600));
      const b = await raw(5);
      await connect5(b, { clientId: "twin", clean: true });
      await eventually(() => got.length === 1, 5000, "the will");
    }));
});

describe("MQTT 5 will properties", () => {
  test("are forwarded with the will, in order; the will delay interval is not", () =>
    withBroker({}, async ({ raw }) => {
      const sub = await raw(5);
      await sub.handshake();
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "wills/#", qos: 1 }] });
      await sub.next("suback");
      const properties = {
        payloadFormatIndicator: true,
        messageExpiryInterval: 3600,
        contentType: "text/plain",
        responseTopic: "reply/here",
        correlationData: Buffer.from([7, 8]),
        userProperties: { a: "1", b: "2" },
      };
      const c = await raw(5);
      await connect5(c, { clientId: "rich", will: will("rich", 0, properties) });
      c.destroy();
      const p = await sub.next("publish");
      assert.equal(String(p.payload), "rich");
      const { userProperties, messageExpiryInterval, ...rest } = p.properties as Props;
      const { userProperties: sent, messageExpiryInterval: _, ...sentRest } = properties;
      assert.deepEqual(rest, sentRest);
      // Counted down while it waited, so at most what was sent.
      assert.ok((messageExpiryInterval as number) <= 3600);
      assert.deepEqual(Object.entries(userProperties as object), Object.entries(sent));
    }));
});
