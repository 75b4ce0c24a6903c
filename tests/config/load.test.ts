import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../src/config/error.ts";
import { loadConfigFile } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { withDir } from "./helpers.ts";

async function loadText(text: string): Promise<unknown> {
  return await withDir(async (dir) => {
    const path = join(dir, "broker.yaml");
    await writeFile(path, text);
    return await loadConfigFile(path);
  });
}

async function loadProblems(text: string): Promise<{ path: string; problems: readonly string[] }> {
  return await withDir(async (dir) => {
    const path = join(dir, "broker.yaml");
    await writeFile(path, text);
    try {
      await loadConfigFile(path);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return { path, problems: error.problems };
    }
    assert.fail("the file was accepted");
  });
}

test("YAML 1.2: on/off stay strings, numbers are numbers, quoted numbers are strings", async () => {
  const value = await loadText(
    'listeners:\n  default:\n    ssl: on\n    max-connections: 10\n    bind: "1883"\n',
  );
  assert.deepEqual(value, {
    listeners: { default: { ssl: "on", "max-connections": 10, bind: "1883" } },
  });
});

test("an empty file, or one of comments only, is an empty configuration", async () => {
  assert.deepEqual(await loadText(""), {});
  assert.deepEqual(await loadText("# nothing\n"), {});
});

test("merge keys let listeners share settings through anchors", async () => {
  const value = await loadText(
    "listeners:\n  a: &common\n    max-connections: 5\n  b:\n    <<: *common\n    bind: 0.0.0.0:2\n",
  );
  assert.deepEqual(value, {
    listeners: { a: { "max-connections": 5 }, b: { "max-connections": 5, bind: "0.0.0.0:2" } },
  });
});

test("syntax errors name the file, line and column", async () => {
  const { path, problems } = await loadProblems("listeners:\n  default:\n    bind: [oops\n");
  assert.equal(problems.length > 0, true);
  assert.match(problems[0], new RegExp(`^${path.replace(/[.\\]/g, "\\$&")}:\\d+:\\d+: `));
});

test("duplicate keys are errors at their line and column", async () => {
  const { path, problems } = await loadProblems(
    "listeners:\n  tls:\n    capath: /a\n    capath: /b\n",
  );
  assert.equal(problems.length, 1);
  assert.ok(problems[0].startsWith(`${path}:4:5: `), problems[0]);
  assert.match(problems[0], /unique/);
});

test("a document that is not a map is refused, naming the file", async () => {
  const { path, problems } = await loadProblems("- a\n- b\n");
  assert.deepEqual(problems, [`${path}: the document is a list, not a map of configuration keys`]);
  const scalar = await loadProblems("just text\n");
  assert.deepEqual(scalar.problems, [
    `${scalar.path}: the document is the string "just text", not a map of configuration keys`,
  ]);
});

test("a missing file is an error naming it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "absent.yaml");
    await assert.rejects(loadConfigFile(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        `${path}: cannot read the configuration file: no such file (ENOENT)`,
      ]);
      return true;
    });
  });
});

test("the example broker.yaml at the repository root loads and resolves cleanly", async () => {
  const path = fileURLToPath(new URL("../../broker.yaml", import.meta.url));
  const config = await resolveConfig(await loadConfigFile(path), { baseDir: dirname(path) });
  assert.deepEqual(config.listeners.map((l) => [l.name, l.hostname, l.port, l.type]), [
    ["local", "127.0.0.1", 1883, "tcp"],
    ["local-ws", "127.0.0.1", 8080, "ws"],
  ]);
  // Every value it spells out is the default.
  const defaults = await resolveConfig({});
  assert.deepEqual(config.limits, defaults.limits);
  assert.equal(config.timeoutDisconnectDelayMs, defaults.timeoutDisconnectDelayMs);
  assert.equal(config.sysIntervalMs, defaults.sysIntervalMs);
  assert.deepEqual(config.auth, defaults.auth);
  assert.deepEqual(config.topicCheck.taboo, defaults.topicCheck.taboo);
  assert.equal(config.topicCheck.enabled, false);
  assert.equal(config.plugins, undefined);
});
