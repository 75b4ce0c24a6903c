import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, sleep, withBroker } from "../helpers/broker.ts";
import type { Plugin, TopicAction } from "../../src/plugins/types.ts";

/** Allows everything; of the checks for `actions`, every third answers later, the rest at once. */
function unevenChecks(actions: TopicAction[]): Plugin {
  let calls = 0;
  return {
    name: "uneven_checks",
    authenticate: () => true,
    topicFiltering: (_client, _topic, action) => {
      if (!actions.includes(action) || calls++ % 3 !== 0) return true;
      return sleep(5 + (calls % 4) * 5).then(() => true);
    },
  };
}

describe("topic checks that answer asynchronously keep the order of messages", () => {
  for (
    const actions of [["publish"], ["receive"], ["publish", "receive"]] as TopicAction[][]
  ) {
    test(`of one publisher on one topic, with uneven ${actions.join(" and ")} checks`, () =>
      withBroker({
        "topic-check": { enabled: true },
        plugins: [unevenChecks(actions)],
      }, async ({ client }) => {
        const sub = await client();
        const got = collect(sub);
        await sub.subscribeAsync("order/t", { qos: 1 });
        const pub = await client();
        const count = 60;
        await Promise.all(
          Array.from({ length: count }, (_, i) => pub.publishAsync("order/t", `${i}`, { qos: 1 })),
        );
        await eventually(() => got.length === count, 10_000, "every message");
        assert.deepEqual(
          got.map((m) => Number(m.payload)),
          Array.from({ length: count }, (_, i) => i),
        );
      }));
  }

  test("a broker that publishes through uneven receive checks delivers in order too", () =>
    withBroker({
      "topic-check": { enabled: true },
      plugins: [unevenChecks(["receive"])],
    }, async ({ client, broker }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("order/#", { qos: 0 });
      for (let i = 0; i < 30; i++) broker.publish({ topic: `order/${i % 2}`, payload: `${i}` });
      await eventually(() => got.length === 30, 10_000, "every message");
      assert.deepEqual(got.map((m) => Number(m.payload)), Array.from({ length: 30 }, (_, i) => i));
    }));
});
