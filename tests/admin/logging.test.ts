import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { eventually, startCli, within } from "../helpers/broker.ts";

describe("log-format and log-level", () => {
  test("json lines carry time, level and message, escaped", () => {
    const lines: string[] = [];
    const logger = createLogger("info", (line) => lines.push(line), "json");
    logger.debug("hidden");
    logger.warn('a "quoted"\nline');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(entry), ["time", "level", "msg"]);
    assert.equal(entry.level, "warn");
    assert.equal(entry.msg, 'a "quoted"\nline');
    assert.ok(!Number.isNaN(Date.parse(entry.time)));
  });

  test("the CLI takes them from the configuration file, and flags win", async () => {
    const dir = mkdtempSync(join(tmpdir(), "log-format-"));
    const file = join(dir, "broker.yaml");
    writeFileSync(
      file,
      'log-format: json\nlog-level: warn\nlisteners:\n  default:\n    bind: "127.0.0.1:0"\n',
    );
    const run = startCli(["-c", file, "--log-level", "info"]);
    try {
      await eventually(() => /ready on mqtt:/.test(run.output()), 15000, "the ready line");
      const first = run.output().split("\n").find((l) => l.includes("ready on mqtt:"))!;
      const entry = JSON.parse(first);
      assert.equal(entry.level, "info");
      assert.match(entry.msg, /^listener default ready on mqtt:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      run.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bad flag value is an error naming the choices", async () => {
    const run = startCli(["--log-format", "xml"]);
    try {
      assert.equal(await within(run.exited, 15000, "the broker to exit"), 2);
      assert.match(run.output(), /--log-format xml is not text, json/);
    } finally {
      run.child.kill("SIGKILL");
    }
  });
});
