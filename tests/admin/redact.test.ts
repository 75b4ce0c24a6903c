import { test } from "node:test";
import assert from "node:assert/strict";
import { redactConfig, REDACTED } from "../../src/admin/redact.ts";
import { resolveConfig } from "../../src/config/resolve.ts";

test("the configuration shown hides passwords, TLS keys and URL passwords, nothing else", async () => {
  const resolved = await resolveConfig({
    plugins: ["auth_anonymous", { name: "mine" }],
    bridges: {
      cloud: {
        address: "mqtt://cloud.example:1883",
        username: "edge",
        password: "bridge-secret",
        topics: [{ pattern: "a/#" }],
      },
    },
    cluster: { redis: "redis://node:url-secret@redis.example:6379/0", node: "edge-1" },
  }, { baseDir: "." });
  const config = {
    ...resolved,
    listeners: resolved.listeners.map((l) => ({
      ...l,
      tls: { cert: "PUBLIC CERT", key: "PRIVATE KEY" },
    })),
  };
  const shown = redactConfig(config) as typeof resolved;
  const text = JSON.stringify(shown);
  for (const secret of ["url-secret", "bridge-secret", "PRIVATE KEY"]) {
    assert.ok(!text.includes(secret), secret);
  }
  assert.deepEqual(shown.plugins, ["auth_anonymous", "[plugin mine]"]);
  assert.equal(shown.cluster?.redis, `redis://node:${REDACTED}@redis.example:6379/0`);
  const bridge = shown.bridges[0];
  assert.deepEqual(bridge.addresses, ["mqtt://cloud.example:1883"]);
  assert.equal(bridge.username, "edge");
  assert.equal(bridge.password, REDACTED);
  assert.deepEqual(shown.listeners[0].tls, { cert: "PUBLIC CERT", key: REDACTED });
  assert.deepEqual(shown.limits, resolved.limits);
});
