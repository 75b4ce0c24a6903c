/**
 * One cluster of three nodes, one per runtime (Deno, Bun, Node), each the `broker` command as a
 * child process: QoS 0, 1 and 2 messages published on any node reach the subscribers on every
 * node, and a retained message set on one is read on the others.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type mqtt from "mqtt";
import { collect, connect, eventually, type RuntimeName } from "../helpers/broker.ts";
import { type ChildNode, propagated, redisSkip, startChildNode, suiteRedis } from "./helpers.ts";

const RUNTIMES: RuntimeName[] = ["deno", "bun", "node"];

describe("a mixed-runtime cluster", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("every node's messages reach every node's subscribers", async () => {
    const nodes: ChildNode[] = [];
    const clients: mqtt.MqttClient[] = [];
    try {
      for (const runtime of RUNTIMES) {
        nodes.push(await startChildNode(redis, `mixed-${runtime}`, runtime));
      }
      for (const [i, node] of nodes.entries()) {
        const client = await connect(node.url, { clientId: `mixed-${RUNTIMES[i]}` });
        clients.push(client);
        await client.subscribeAsync("mix/#", { qos: 2 });
      }
      for (const pub of clients) {
        for (const sub of clients) if (pub !== sub) await propagated(pub, sub);
      }
      for (const [i, pub] of clients.entries()) {
        for (let qos = 0; qos < 3; qos++) {
          await pub.publishAsync(`mix/${RUNTIMES[i]}`, `${RUNTIMES[i]}-${qos}`, {
            qos: qos as 0 | 1 | 2,
          });
        }
      }
      await clients[0].publishAsync("mix/retained", "kept", { qos: 1, retain: true });
      const mix = (c: mqtt.MqttClient) =>
        collect(c).filter((m) => m.topic.startsWith("mix/") && m.topic !== "mix/retained");
      await eventually(() => clients.every((c) => mix(c).length >= 9), 20_000, "9 messages each");
      for (const [i, c] of clients.entries()) {
        assert.deepEqual(
          mix(c).map((m) => m.payload).sort(),
          RUNTIMES.flatMap((r) => [0, 1, 2].map((q) => `${r}-${q}`)).sort(),
          `the subscriber on ${RUNTIMES[i]}`,
        );
      }
      for (const [i, node] of nodes.entries()) {
        const late = await connect(node.url, { clientId: `late-${RUNTIMES[i]}` });
        clients.push(late);
        await eventually(
          () => {
            late.subscribe("mix/retained");
            return collect(late).some((m) => m.payload === "kept" && m.retain);
          },
          10_000,
          `the retained message on ${RUNTIMES[i]}`,
        );
      }
    } finally {
      for (const c of clients) c.end(true);
      for (const node of nodes) await node.stop();
    }
  });
});
