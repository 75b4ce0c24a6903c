import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { collect, eventually, type RawClient, withBroker } from "../helpers/broker.ts";
import { brokerDisconnect } from "../helpers/mqtt5.ts";

type Props = Record<string, unknown>;

/** CONNECT at 5.0 with client id `id`, clean start `clean` and `properties`; the CONNACK. */
async function connect5(c: RawClient, id: string, clean: boolean, properties: Props = {}) {
  const connack = await c.handshake({ clientId: id, clean, properties });
  assert.equal(connack.reasonCode, 0);
  return connack;
}

/** Subscribes `c` to `filter` at QoS 1. */
async function subscribe(c: RawClient, filter: string): Promise<void> {
  c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await c.next("suback");
}

/** Sends DISCONNECT (with `properties`) and waits for the close. */
async function leave(c: RawClient, properties?: Props): Promise<void> {
  c.send({ cmd: "disconnect", reasonCode: 0, ...(properties && { properties }) });
  await c.waitClosed();
}

describe("MQTT 5 session expiry", () => {
  test("no session expiry interval: the session ends with the connection, even with clean start 0", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      await connect5(a, "brief", false);
      await subscribe(a, "s/#");
      await leave(a);
      await eventually(() => broker.gauges.sessionsTotal === 0, 5000, "the session to end");
      const b = await raw(5);
      assert.equal((await connect5(b, "brief", false)).sessionPresent, false);
    }));

  test("expiry > 0 keeps the session, its subscriptions and its queue, after the connection", () =>
    withBroker({}, async ({ raw, client }) => {
      const a = await raw(5);
      const connack = await connect5(a, "keeper", false, { sessionExpiryInterval: 60 });
      // The interval is within max-session-expiry: the CONNACK does not repeat it.
      assert.equal((connack.properties as Props).sessionExpiryInterval, undefined);
      await subscribe(a, "s/#");
      await leave(a);
      const publisher = await client();
      await publisher.publishAsync("s/1", "while away", { qos: 1 });
      const b = await raw(5);
      assert.equal(
        (await connect5(b, "keeper", false, { sessionExpiryInterval: 60 })).sessionPresent,
        true,
      );
      assert.equal(String((await b.next("publish")).payload), "while away");
    }));

  test("clean start 1 discards the session; clean start 0 with expiry 0 resumes it, then ends it", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      await connect5(a, "c", false, { sessionExpiryInterval: 60 });
      await leave(a);
      const b = await raw(5);
      assert.equal(
        (await connect5(b, "c", true, { sessionExpiryInterval: 60 })).sessionPresent,
        false,
      );
      await leave(b);
      const c = await raw(5);
      assert.equal((await connect5(c, "c", false)).sessionPresent, true);
      await leave(c);
      await eventually(() => broker.gauges.sessionsTotal === 0, 5000, "the session to end");
    }));

  test("the session expires after its interval", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      await connect5(a, "short", false, { sessionExpiryInterval: 1 });
      await leave(a);
      assert.equal(broker.gauges.sessionsTotal, 1);
      await eventually(() => broker.gauges.sessionsTotal === 0, 8000, "the session to expire");
      assert.equal(broker.stats.sessionsExpired, 1);
      const b = await raw(5);
      assert.equal(
        (await connect5(b, "short", false, { sessionExpiryInterval: 1 })).sessionPresent,
        false,
      );
    }));

  test("max-session-expiry caps what a client asks (0xFFFFFFFF included) and CONNACK says so", () =>
    withBroker({ "max-session-expiry": 1 }, async ({ raw, broker }) => {
      for (const asked of [0xffffffff, 3600]) {
        const c = await raw(5);
        const connack = await connect5(c, `capped-${asked}`, false, {
          sessionExpiryInterval: asked,
        });
        assert.equal((connack.properties as Props).sessionExpiryInterval, 1);
        await leave(c);
      }
      await eventually(
        () => broker.gauges.sessionsTotal === 0,
        8000,
        "the capped sessions to expire",
      );
    }));

  test("0xFFFFFFFF never expires when max-session-expiry is 0", () =>
    withBroker({ "max-session-expiry": 0 }, async ({ raw }) => {
      const a = await raw(5);
      const connack = await connect5(a, "forever", false, { sessionExpiryInterval: 0xffffffff });
      assert.equal((connack.properties as Props).sessionExpiryInterval, undefined);
      await leave(a);
      const b = await raw(5);
      assert.equal((await connect5(b, "forever", false)).sessionPresent, true);
    }));

  test("DISCONNECT with session expiry 0 ends a session that CONNECT gave an expiry", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      await connect5(a, "changer", false, { sessionExpiryInterval: 3600 });
      await leave(a, { sessionExpiryInterval: 0 });
      await eventually(() => broker.gauges.sessionsTotal === 0, 5000, "the session to end");
    }));

  test("DISCONNECT with a longer session expiry keeps the session past its CONNECT interval", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      await connect5(a, "longer", false, { sessionExpiryInterval: 1 });
      await leave(a, { sessionExpiryInterval: 3600 });
      // A second session with the CONNECT's interval shows when the first would have expired.
      const b = await raw(5);
      await connect5(b, "witness", false, { sessionExpiryInterval: 1 });
      await leave(b);
      await eventually(() => broker.stats.sessionsExpired === 1, 8000, "the witness to expire");
      const c = await raw(5);
      assert.equal((await connect5(c, "longer", false)).sessionPresent, true);
    }));

  test("DISCONNECT raising a session expiry of 0 is a protocol error: 0x82, will published", () =>
    withBroker({}, async ({ raw, client, broker }) => {
      const watcher = await client();
      const got = collect(watcher);
      await watcher.subscribeAsync("wills/#", { qos: 1 });
      const a = await raw(5);
      await a.handshake({
        clientId: "raiser",
        will: { topic: "wills/raiser", payload: Buffer.from("gone"), qos: 1, retain: false },
      });
      a.send({ cmd: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
      assert.equal((await brokerDisconnect(a)).reasonCode, 0x82);
      await eventually(() => got.length === 1, 5000, "the will");
      assert.equal(broker.gauges.sessionsTotal, 1, "only the watcher's session");
    }));
});
