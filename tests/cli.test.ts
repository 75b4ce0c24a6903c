import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.ts";
import {
  collect,
  connect,
  eventually,
  type RunningCli,
  startCli,
  within,
} from "./helpers/broker.ts";

async function finish(run: RunningCli, ms = 20000): Promise<number | null> {
  try {
    return await within(run.exited, ms, "the broker command to exit");
  } finally {
    run.child.kill("SIGKILL");
  }
}

describe("the broker command", () => {
  test("--version prints the package version, which deno.json and package.json share", async () => {
    const run = startCli(["--version"]);
    assert.equal(await finish(run), 0);
    assert.equal(run.output().trim(), VERSION);
    const root = new URL("../", import.meta.url);
    for (const file of ["package.json", "deno.json"]) {
      const { version } = JSON.parse(readFileSync(new URL(file, root), "utf8"));
      assert.equal(version, VERSION, file);
    }
  });

  test("--help describes the flags", async () => {
    const run = startCli(["--help"]);
    assert.equal(await finish(run), 0);
    for (const flag of ["--config", "--host", "--port", "--verbose", "--version"]) {
      assert.ok(run.output().includes(flag), flag);
    }
  });

  test("example-config prints the annotated broker.yaml", async () => {
    const run = startCli(["example-config"]);
    assert.equal(await finish(run), 0);
    const sample = readFileSync(fileURLToPath(new URL("../broker.yaml", import.meta.url)), "utf8");
    assert.equal(run.output(), sample);
  });

  test("an unknown flag is an error", async () => {
    const run = startCli(["--nope"]);
    assert.equal(await finish(run), 2);
    assert.match(run.output(), /--nope/);
  });

  test("runs on loopback by default, says so, serves clients and exits 0 on SIGTERM", async () => {
    const run = startCli(["-p", "0"]);
    try {
      await eventually(
        () => /ready on mqtt:\/\/127\.0\.0\.1:\d+/.test(run.output()),
        15000,
        "the ready line",
      );
      assert.match(run.output(), /127\.0\.0\.1 only/);
      const port = /ready on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(run.output())![1];
      const c = await connect(`mqtt://127.0.0.1:${port}`);
      const got = collect(c);
      await c.subscribeAsync("cli");
      await c.publishAsync("cli", "works", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the round trip");
      c.end(true);
      // process.kill rather than child.kill: Deno's child_process reports a child it signalled
      // itself as killed (code null) even when the child handled the signal and exited 0.
      process.kill(run.child.pid!, "SIGTERM");
      assert.equal(await finish(run, 10000), 0, run.output());
      assert.match(run.output(), /broker stopped/);
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  test("--host takes IPv6 with or without brackets; listeners with their own bind are named", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-cli-"));
    const run = (() => {
      const file = join(dir, "broker.yaml");
      writeFileSync(file, "listeners:\n  other:\n    bind: 127.0.0.1:0\n");
      return startCli(["-c", file, "--host", "[::1]", "-p", "0"]);
    })();
    try {
      await eventually(() => /listener other ready/.test(run.output()), 15000, "the ready line");
      assert.match(run.output(), /listener other keeps its own bind 127\.0\.0\.1:0/);
      process.kill(run.child.pid!, "SIGTERM");
      assert.equal(await finish(run, 10000), 0, run.output());
    } finally {
      run.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bad configuration file exits non-zero naming the key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-cli-"));
    try {
      const file = join(dir, "broker.yaml");
      writeFileSync(file, "listeners:\n  default:\n    bind: 127.0.0.1:0\n    max-conections: 3\n");
      const run = startCli(["-c", file]);
      assert.equal(await finish(run), 2);
      assert.match(run.output(), /listeners\.default\.max-conections/);
      assert.match(run.output(), /max-connections/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an unknown name in auth.plugins exits 2 naming the key, the value and the loaded plugins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-cli-"));
    try {
      const file = join(dir, "broker.yaml");
      writeFileSync(
        file,
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nauth:\n  plugins: [auth_anonymous, ldap]\n",
      );
      const run = startCli(["-c", file]);
      assert.equal(await finish(run), 2);
      assert.match(run.output(), /invalid configuration in /);
      assert.match(
        run.output(),
        /auth\.plugins\[1\]: "ldap" is no loaded plugin; loaded plugins with authenticate: auth_anonymous/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("broker passwd writes users; SIGHUP makes a running broker reload them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-cli-"));
    try {
      const passwd = join(dir, "passwd");
      assert.equal(
        await finish(startCli(["passwd", "-c", passwd, "alice", "--password", "wonder"])),
        0,
      );
      const config = join(dir, "broker.yaml");
      writeFileSync(
        config,
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nauth:\n  allow-anonymous: false\n" +
          "  password-file: passwd\n",
      );
      const broker = startCli(["-c", config]);
      try {
        await eventually(
          () => /ready on mqtt:\/\/127\.0\.0\.1:\d+/.test(broker.output()),
          15000,
          "ready",
        );
        const url = `mqtt://127.0.0.1:${
          /ready on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(broker.output())![1]
        }`;
        (await connect(url, { username: "alice", password: "wonder" })).end(true);
        await assert.rejects(connect(url, { username: "bob", password: "builder" }));
        assert.equal(await finish(startCli(["passwd", passwd, "bob", "--password", "builder"])), 0);
        process.kill(broker.child.pid!, "SIGHUP");
        await eventually(() => /plugin files reloaded/.test(broker.output()), 10000, "the reload");
        (await connect(url, { username: "bob", password: "builder" })).end(true);
        process.kill(broker.child.pid!, "SIGTERM");
        assert.equal(await finish(broker, 10000), 0, broker.output());
      } finally {
        broker.child.kill("SIGKILL");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
