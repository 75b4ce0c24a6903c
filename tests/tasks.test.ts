import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { VERSION } from "../src/version.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");
const tasks = (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
  tasks: Record<string, string>;
}).tasks;

test("every deno.json task runs the Deno that npm ci brings", () => {
  for (const [name, command] of Object.entries(tasks)) {
    // `deno task` resolves a bare `deno` to node_modules/.bin/deno and runs that binary as a
    // script (a SyntaxError), so the tasks name the executable by its path.
    const program = command.split(" ")[0];
    assert.equal(program, "node_modules/.bin/deno", `task ${name}: ${command}`);
    assert.ok(existsSync(join(root, program)), `task ${name}: ${program} is missing`);
  }
});

test("deno task start runs the broker command", () => {
  const run = spawnSync(deno, ["task", "start", "--version"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), VERSION);
});
