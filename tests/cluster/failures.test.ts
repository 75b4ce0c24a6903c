/**
 * When things fail: a node killed with SIGKILL has its clients' wills published by a survivor
 * (respecting will delay), and a Redis that restarts empty in the middle of a QoS 1 flood loses
 * no message whose PUBACK the publisher got.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, connect, eventually, sleep } from "../helpers/broker.ts";
import {
  propagated,
  redisClient,
  redisSkip,
  startChildNode,
  startNode,
  suiteRedis,
} from "./helpers.ts";

describe("cluster failures", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("the wills of a SIGKILLed node's clients are published by a survivor", async () => {
    const survivor = await startNode(redis, "survivor");
    const doomed = await startChildNode(redis, "doomed");
    const watcher = await connect(survivor.url, { clientId: "watcher" });
    const look = await redisClient(redis);
    const clients = [];
    try {
      await watcher.subscribeAsync("wills/#", { qos: 1 });
      clients.push(
        await connect(doomed.url, {
          clientId: "now",
          will: { topic: "wills/now", payload: "gone", qos: 1, retain: false },
        }),
        await connect(doomed.url, {
          clientId: "later",
          protocolVersion: 5,
          will: {
            topic: "wills/later",
            payload: "gone later",
            qos: 1,
            retain: false,
            properties: { willDelayInterval: 1 },
          },
        }),
        await connect(doomed.url, {
          clientId: "polite",
          will: { topic: "wills/polite", payload: "never", qos: 1, retain: false },
        }),
      );
      // The polite one leaves with DISCONNECT: its will is never published.
      await clients[2].endAsync();
      const deadline = Date.now() + 10_000;
      while ((await look.hlen("mqtt:wills:doomed")) !== 2) {
        assert.ok(Date.now() < deadline, "two wills in Redis");
        await sleep(20);
      }
      await doomed.kill();
      await eventually(
        () => collect(watcher).filter((m) => m.topic.startsWith("wills/")).length >= 2,
        20_000,
        "both wills",
      );
      const wills = collect(watcher).filter((m) => m.topic.startsWith("wills/"));
      assert.deepEqual(wills.map((m) => m.payload).sort(), ["gone", "gone later"]);
    } finally {
      look.disconnect();
      for (const c of clients) c.end(true);
      watcher.end(true);
      await doomed.kill();
      await survivor.broker.close();
    }
  });

  test("a Redis restart in the middle of a QoS 1 flood loses nothing acknowledged", async () => {
    const a = await startNode(redis, "flood-a");
    const b = await startNode(redis, "flood-b");
    const sub = await connect(b.url, { clientId: "flood-sub", clean: false });
    const pub = await connect(a.url, { clientId: "flood-pub" });
    try {
      await sub.subscribeAsync("flood/#", { qos: 1 });
      await propagated(pub, sub);
      const acked: number[] = [];
      const total = 300;
      const flood = (async () => {
        for (let i = 0; i < total; i++) {
          await pub.publishAsync(`flood/${i % 7}`, String(i), { qos: 1 });
          acked.push(i);
        }
      })();
      await eventually(() => acked.length >= 80, 20_000, "the flood to start");
      await redis.stop();
      // Publishing goes on while Redis is away: the broker buffers for the other node.
      await eventually(() => acked.length >= 160, 20_000, "PUBACKs while Redis is away");
      await redis.start();
      await flood;
      const got = () =>
        new Set(
          collect(sub).filter((m) => m.topic.startsWith("flood/")).map((m) => Number(m.payload)),
        );
      await eventually(() => got().size >= total, 30_000, "every acknowledged message");
      assert.equal(acked.length, total);
      assert.equal(got().size, total);
      // Order per topic holds across the outage.
      for (let t = 0; t < 7; t++) {
        const seen = collect(sub).filter((m) => m.topic === `flood/${t}`).map((m) =>
          Number(m.payload)
        );
        const firsts = seen.filter((n, i) => seen.indexOf(n) === i);
        assert.deepEqual(firsts, [...firsts].sort((x, y) => x - y), `flood/${t} in order`);
      }
    } finally {
      await redis.start();
      sub.end(true);
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("retained messages survive a Redis restart and one set while Redis is away", async () => {
    const a = await startNode(redis, "keep-a");
    const b = await startNode(redis, "keep-b");
    const pub = await connect(a.url, { clientId: "keep-pub" });
    const clients = [pub];
    const retained = async (url: string, payload: string, clientId: string) => {
      const c = await connect(url, { clientId });
      clients.push(c);
      await eventually(
        () => {
          c.subscribe("keep/#");
          return collect(c).some((m) => m.payload === payload && m.retain);
        },
        20_000,
        `${payload} retained on ${clientId}'s node`,
      );
    };
    try {
      await pub.publishAsync("keep/1", "before", { qos: 1, retain: true });
      await retained(b.url, "before", "keep-b-1");
      await redis.stop();
      await pub.publishAsync("keep/2", "during", { qos: 1, retain: true });
      await redis.start();
      // Node b's mirror gets the one set while Redis was away; a node that joins after the
      // restart finds both in Redis.
      await retained(b.url, "during", "keep-b-2");
      const c = await startNode(redis, "keep-c");
      try {
        await retained(c.url, "before", "keep-c-1");
        await retained(c.url, "during", "keep-c-2");
      } finally {
        await c.broker.close();
      }
    } finally {
      await redis.start();
      for (const client of clients) client.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("a will whose client comes back on another node within its delay is not published", async () => {
    const survivor = await startNode(redis, "back-survivor");
    const doomed = await startChildNode(redis, "back-doomed");
    const watcher = await connect(survivor.url, { clientId: "back-watcher" });
    const look = await redisClient(redis);
    const clients = [watcher];
    const delayed = (clientId: string, seconds: number) =>
      connect(doomed.url, {
        clientId,
        protocolVersion: 5,
        will: {
          topic: `back/${clientId}`,
          payload: clientId,
          qos: 1,
          retain: false,
          properties: { willDelayInterval: seconds },
        },
      });
    try {
      await watcher.subscribeAsync("back/#", { qos: 1 });
      clients.push(await delayed("returns", 3), await delayed("stays", 4));
      const deadline = Date.now() + 10_000;
      while ((await look.hlen("mqtt:wills:back-doomed")) !== 2) {
        assert.ok(Date.now() < deadline, "two wills in Redis");
        await sleep(20);
      }
      await doomed.kill();
      clients.push(await connect(survivor.url, { clientId: "returns", protocolVersion: 5 }));
      // Due a second later than the other one would have been: once it is here, that one is late.
      await eventually(
        () => collect(watcher).some((m) => m.topic === "back/stays"),
        20_000,
        "the will of the client that stayed away",
      );
      assert.deepEqual(collect(watcher).map((m) => m.topic), ["back/stays"]);
    } finally {
      look.disconnect();
      for (const c of clients) c.end(true);
      await doomed.kill();
      await survivor.broker.close();
    }
  });
  test("/readyz and /metrics show the node's Redis link, down while Redis is away", async () => {
    const a = await startNode(redis, "ready-a", {
      listeners: {
        default: { bind: "127.0.0.1:0" },
        admin: { type: "http", bind: "127.0.0.1:0" },
      },
    });
    const http = a.broker.listeners.find((l) => l.type === "http")!;
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${http.port}${path}`);
      return { status: response.status, body: await response.text() };
    };
    const readyzBecomes = async (status: number) => {
      for (let i = 0; i < 200 && (await get("/readyz")).status !== status; i++) await sleep(100);
      assert.equal((await get("/readyz")).status, status);
    };
    try {
      const ready = await get("/readyz");
      assert.equal(ready.status, 200);
      assert.equal(JSON.parse(ready.body).checks.cluster, true);
      const metrics = (await get("/metrics")).body;
      assert.match(metrics, /^mqtt_cluster_nodes_up 1$/m);
      assert.match(metrics, /^mqtt_cluster_redis_up 1$/m);
      assert.match(metrics, /^mqtt_cluster_messages_total\{direction="out"\} 0$/m);
      await redis.stop();
      await readyzBecomes(503);
      assert.match((await get("/metrics")).body, /^mqtt_cluster_redis_up 0$/m);
      await redis.start();
      await readyzBecomes(200);
    } finally {
      await redis.start();
      await a.broker.close();
    }
  });
});
