import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

const will = { topic: "wills/x", payload: "gone", qos: 1 as const, retain: false };

describe("will", () => {
  test("published when the connection drops without DISCONNECT", () =>
    withBroker({}, async ({ client, raw }) => {
      const watcher = await client();
      const got = collect(watcher);
      await watcher.subscribeAsync("wills/#", { qos: 1 });
      const c = await raw();
      await c.handshake({ will });
      c.destroy();
      await eventually(() => got.length === 1, 5000, "the will");
      assert.equal(got[0].payload, "gone");
      assert.equal(got[0].qos, 1);
    }));

  test("never published after DISCONNECT", () =>
    withBroker({}, async ({ client, raw, broker }) => {
      const watcher = await client();
      const got = collect(watcher);
      await watcher.subscribeAsync("wills/#");
      const c = await raw();
      await c.handshake({ will, clientId: "polite" });
      c.send({ cmd: "disconnect" });
      await c.waitClosed();
      await eventually(() => broker.clients.length === 1, 5000, "the disconnect");
      await watcher.publishAsync("wills/marker", "m", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the marker");
      assert.deepEqual(got.map((m) => m.payload), ["m"]);
    }));

  test("published on a protocol violation and on takeover", () =>
    withBroker({}, async ({ client, raw }) => {
      const watcher = await client();
      const got = collect(watcher);
      await watcher.subscribeAsync("wills/#");
      const bad = await raw();
      await bad.handshake({ will: { ...will, payload: "violation" } });
      bad.send(Uint8Array.of(0x30, 3, 0, 1, 0x23)); // PUBLISH to "#"
      await bad.waitClosed();
      const first = await raw();
      await first.handshake({ clientId: "dup", will: { ...will, payload: "takeover" } });
      const second = await raw();
      await second.handshake({ clientId: "dup" });
      await eventually(() => got.length === 2, 5000, "two wills");
      assert.deepEqual(got.map((m) => m.payload), ["violation", "takeover"]);
    }));

  test("will retain is honoured", () =>
    withBroker({}, async ({ client, raw, broker }) => {
      const before = broker.gauges.retained;
      const c = await raw();
      await c.handshake({ will: { ...will, retain: true, payload: "kept" } });
      c.destroy();
      await eventually(
        () => broker.gauges.retained === before + 1,
        5000,
        "the will to be retained",
      );
      const late = await client();
      const got = collect(late);
      await late.subscribeAsync("wills/x");
      await eventually(() => got.length === 1, 5000, "the retained will");
      assert.equal(got[0].retain, true);
      assert.equal(got[0].payload, "kept");
    }));

  test("published when keepalive expires", () =>
    withBroker({}, async ({ client, raw }) => {
      const watcher = await client();
      const got = collect(watcher);
      await watcher.subscribeAsync("wills/#");
      const c = await raw();
      await c.handshake({ keepalive: 1, will: { ...will, payload: "silent" } });
      // 1.5 x 1 s plus the configured delay (0 here): the broker closes and publishes.
      await c.waitClosed(8000);
      await eventually(() => got.length === 1, 5000, "the will");
      assert.equal(got[0].payload, "silent");
    }));
});
