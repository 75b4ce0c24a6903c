import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/config/resolve.ts";

test("a type: http listener binds 8081 by default, 8444 with ssl", async () => {
  const config = await resolveConfig({
    listeners: { web: { type: "http" }, mqtt: {} },
  }, { baseDir: "." });
  assert.deepEqual(
    config.listeners.map((l) => [l.name, l.type, l.port]),
    [["web", "http", 8081], ["mqtt", "tcp", 1883]],
  );
  await assert.rejects(
    resolveConfig({ listeners: { web: { type: "https" as "http" } } }, { baseDir: "." }),
    /listeners\.web\.type: "https" is not tcp, ws or http/,
  );
});
