import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/config/resolve.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { createBroker } from "../../src/broker/create.ts";
import { freePort } from "../bridge/helpers.ts";
import { memoryLogger } from "../helpers/broker.ts";

test("cluster: redis is required, node defaults to host name and pid, seconds become ms", async () => {
  const config = await resolveConfig({ cluster: { redis: "redis://127.0.0.1:6379" } });
  assert.equal(config.cluster?.redis, "redis://127.0.0.1:6379");
  assert.match(config.cluster?.node ?? "", /^[A-Za-z0-9][A-Za-z0-9._-]*-\d+$/);
  assert.equal(config.cluster?.heartbeatMs, 1000);
  assert.equal(config.cluster?.connectTimeoutMs, 5000);
  assert.equal(config.cluster?.maxBufferedMessages, 100_000);
  assert.equal(config.cluster?.handoverTimeoutMs, 3000);
  assert.equal((await resolveConfig({})).cluster, undefined);
  const named = await resolveConfig({
    cluster: {
      redis: "rediss://u:p@r.example:6380/2",
      node: "edge-1",
      heartbeat: 0.5,
      "handover-timeout": 1.5,
    },
  });
  assert.equal(named.cluster?.node, "edge-1");
  assert.equal(named.cluster?.handoverTimeoutMs, 1500);
  assert.equal(named.cluster?.heartbeatMs, 500);
});

test("cluster: bad values are problems naming the key, the value and the fix", () => {
  const problems = (input: unknown) => validateConfig({ cluster: input }).problems.join("\n");
  assert.match(problems({ node: "a" }), /^cluster: no redis \(expected the Redis URL/m);
  assert.match(
    problems({ redis: "http://x:1" }),
    /cluster\.redis: "http:\/\/x:1" is not a redis:\/\//,
  );
  assert.match(
    problems({ redis: "not a url" }),
    /cluster\.redis.*e\.g\. redis:\/\/127\.0\.0\.1:6379/,
  );
  assert.match(problems({ redis: "redis://h/x" }), /cluster\.redis.*database number/);
  assert.match(
    problems({ redis: "redis://h", node: "a b" }),
    /cluster\.node: "a b" is not a node name/,
  );
  assert.match(problems({ redis: "redis://h", node: "-a" }), /start with a letter or a digit/);
  assert.match(
    problems({ redis: "redis://h", nodes: "a" }),
    /cluster\.nodes: unknown key \(did you mean node\?\)/,
  );
  assert.match(
    problems({ redis: "redis://h", heartbeat: 0 }),
    /cluster\.heartbeat: 0 is not a number of seconds/,
  );
  assert.match(
    problems({ redis: "redis://h", "max-buffered-messages": "10" }),
    /cluster\.max-buffered-messages.*remove the quotes/,
  );
  assert.match(
    problems({ redis: "redis://h", "handover-timeout": -1 }),
    /cluster\.handover-timeout: -1 is not a number of seconds/,
  );
  assert.match(problems("redis://h"), /^cluster: "redis:\/\/h" is not a map/m);
  assert.equal(problems(null), "");
});

test("cluster: an unreachable Redis at start is an error naming the key, within the timeout", async () => {
  const port = await freePort();
  await assert.rejects(
    createBroker({
      listeners: { default: { bind: "127.0.0.1:0" } },
      cluster: { redis: `redis://127.0.0.1:${port}`, node: "lonely", "connect-timeout": 1 },
    }, { logger: memoryLogger() }),
    /cluster\.redis: cannot reach redis:\/\/127\.0\.0\.1:\d+.*cluster\.connect-timeout/,
  );
});
