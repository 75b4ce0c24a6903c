/**
 * Messages across nodes: QoS 0, 1 and 2 reach subscribers on other nodes, only nodes with a
 * matching filter get them, retained messages are the same everywhere.
 *
 * @module
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, connect, eventually } from "../helpers/broker.ts";
import { redisSkip, startNode, startRedis, type TestRedis } from "./helpers.ts";

describe("cluster routing", { skip: redisSkip }, () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  test("QoS 0, 1 and 2 cross nodes, each once, in order", async () => {
    const a = await startNode(redis, "route-a");
    const b = await startNode(redis, "route-b");
    const sub = await connect(b.url, { clientId: "sub" });
    const pub = await connect(a.url, { clientId: "pub" });
    try {
      await sub.subscribeAsync("t/#", { qos: 2 });
      // The filter reaches node a through Redis pub/sub, a moment after SUBACK.
      await eventually(
        () => {
          pub.publish("t/probe", "p");
          return collect(sub).length > 0;
        },
        5000,
        "the filter to reach the other node",
      );
      const all = collect(sub);
      const got = () => all.filter((m) => m.topic !== "t/probe");
      for (let i = 0; i < 30; i++) {
        await pub.publishAsync(`t/${i % 3}`, String(i), { qos: (i % 3) as 0 | 1 | 2 });
      }
      await eventually(() => got().length >= 30, 5000, "30 messages");
      assert.equal(got().length, 30, "each message once");
      for (let q = 0; q < 3; q++) {
        const ofQos = got().filter((m) => m.qos === q).map((m) => Number(m.payload));
        assert.deepEqual(ofQos, [...ofQos].sort((x, y) => x - y), `QoS ${q} in order`);
        assert.equal(ofQos.length, 10);
      }
    } finally {
      sub.end(true);
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });
});
