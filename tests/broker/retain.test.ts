import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../helpers/broker.ts";

describe("retained messages", () => {
  test("stored, replaced, sent on SUBSCRIBE with retain set, deleted by an empty payload", () =>
    withBroker({}, async ({ client, broker }) => {
      const before = broker.gauges.retained;
      const pub = await client();
      await pub.publishAsync("r/a", "1", { qos: 1, retain: true });
      await pub.publishAsync("r/a", "2", { qos: 1, retain: true });
      await pub.publishAsync("r/b", "b", { qos: 0, retain: true });
      const s1 = await client();
      const got = collect(s1);
      await s1.subscribeAsync("r/#", { qos: 1 });
      await eventually(() => got.length === 2, 5000, "two retained messages");
      assert.deepEqual(
        got.map((m) => `${m.topic}=${m.payload} retain=${m.retain} qos=${m.qos}`).sort(),
        ["r/a=2 retain=true qos=1", "r/b=b retain=true qos=0"],
      );
      await pub.publishAsync("r/a", "", { qos: 1, retain: true });
      assert.equal(broker.gauges.retained, before + 1);
      const s2 = await client();
      const got2 = collect(s2);
      await s2.subscribeAsync("r/#");
      await eventually(() => got2.length === 1, 5000, "one retained message");
      assert.equal(got2[0].topic, "r/b");
    }));

  test("forwarded to existing subscribers with retain 0", () =>
    withBroker({}, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("live");
      const pub = await client();
      await pub.publishAsync("live", "now", { retain: true, qos: 1 });
      await eventually(() => got.length === 1, 5000, "the message");
      assert.equal(got[0].retain, false);
    }));

  test("wildcards at the first level do not return $ topics", () =>
    withBroker({ sys_interval: 0 }, async ({ client, broker }) => {
      broker.publish({ topic: "$app/x", payload: "hidden", retain: true });
      broker.publish({ topic: "app/x", payload: "shown", retain: true });
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("#");
      await sub.subscribeAsync("+/x");
      await eventually(() => got.length === 2, 5000, "two messages");
      assert.deepEqual(got.map((m) => m.payload), ["shown", "shown"]);
      const dollar = await client();
      const got2 = collect(dollar);
      await dollar.subscribeAsync("$app/#");
      await eventually(() => got2.length === 1, 5000, "the $ message");
      assert.equal(got2[0].payload, "hidden");
    }));
});
