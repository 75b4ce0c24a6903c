import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, withBroker } from "../helpers/broker.ts";
import { fuzz, type FuzzCase } from "../helpers/hostile.ts";

/** Cases per run: enough for every kind many times over, few enough for a slow 2-core machine. */
const CASES = 3000;
const SEED = 0x5eed;

describe("fuzz", () => {
  test(`${CASES} malformed cases while a healthy pair keeps round-tripping`, () =>
    withBroker({ "max-packet-size": 262144 }, async ({ broker, client }) => {
      const sub = await client({ clientId: "healthy-sub" });
      const pub = await client({ clientId: "healthy-pub" });
      const received: number[] = [];
      sub.on("message", (topic, payload) => {
        if (topic === "healthy/pair") received.push(Number(payload.toString()));
      });
      await sub.subscribeAsync("healthy/pair", { qos: 1 });

      let fuzzing = true;
      let sent = 0;
      const pair = (async () => {
        while (fuzzing) {
          const n = sent++;
          await pub.publishAsync("healthy/pair", String(n), { qos: 1 });
          await eventually(() => received.includes(n), 5000, `message ${n} of the healthy pair`);
        }
      })();
      const hangs: FuzzCase[] = [];
      let kinds: Map<string, number>;
      try {
        kinds = await fuzz(broker.listeners[0].port, {
          seed: SEED,
          count: CASES,
          concurrency: 16,
          onHang: (c) => hangs.push(c),
        });
      } finally {
        fuzzing = false;
        await pair;
      }
      assert.deepEqual(hangs.map((h) => h.kind), [], "cases the broker never closed");
      assert.ok(kinds.size >= 20, `only ${kinds.size} kinds of case generated`);
      assert.ok(sent > 0);
      assert.deepEqual(received, Array.from({ length: sent }, (_, i) => i));
      assert.equal(sub.connected && pub.connected, true);
      await eventually(() => broker.clients.length === 2, 5000, "every fuzz connection to be gone");
    }));
});
