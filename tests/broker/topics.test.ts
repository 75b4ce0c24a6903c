import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

/** PUBLISH QoS 0 with raw topic bytes. */
function publishRaw(topic: number[]): Uint8Array {
  return Uint8Array.of(0x30, 2 + topic.length + 1, 0, topic.length, ...topic, 0x21);
}

describe("topic names", () => {
  const cases: [string, number[]][] = [
    ["empty", []],
    ["a + wildcard", [0x61, 0x2f, 0x2b]],
    ["a # wildcard", [0x23]],
    ["invalid UTF-8", [0x61, 0xff, 0xfe]],
    ["U+0000", [0x61, 0x00]],
    ["a UTF-16 surrogate encoded as UTF-8", [0xed, 0xa0, 0x80]],
  ];
  for (const [what, bytes] of cases) {
    test(`${what} closes that connection only`, () =>
      withBroker({}, async ({ raw, client }) => {
        const healthy = await client();
        const got = collect(healthy);
        await healthy.subscribeAsync("ok");
        const bad = await raw();
        await bad.handshake();
        bad.send(publishRaw(bytes));
        await bad.waitClosed();
        await healthy.publishAsync("ok", "still here", { qos: 1 });
        await eventually(() => got.length === 1, 5000, "the healthy round trip");
        assert.equal(healthy.connected, true);
      }));
  }

  test("multi-byte UTF-8 topics are routed", () =>
    withBroker({}, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("héllo/+/🌍");
      await sub.publishAsync("héllo/wörld/🌍", "ok", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the message");
      assert.equal(got[0].topic, "héllo/wörld/🌍");
    }));
});
