/**
 * The README's code blocks, run as a reader would run them, so that they cannot drift from what
 * the broker does: every TypeScript and JavaScript block (a plugin module is loaded into a
 * broker, a program is run until it settles and then stopped with SIGTERM), and every YAML block
 * validated as configuration.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse } from "yaml";
import { createBroker } from "../src/broker/create.ts";
import { validateConfig } from "../src/config/validate.ts";
import { memoryLogger, runtimeCommand, sleep, within } from "./helpers/broker.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const mod = pathToFileURL(join(root, "mod.ts")).href;

interface Block {
  lang: string;
  code: string;
  line: number;
}

function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== "```") body.push(lines[i]);
    found.push({ lang: open[1], code: body.join("\n") + "\n", line: start + 1 });
  }
  return found;
}

const readme = readFileSync(join(root, "README.md"), "utf8");
const all = blocks(readme);
const code = all.filter((b) => b.lang === "ts" || b.lang === "js");
/** A YAML block that starts `# prometheus.yml` (say) is another program's file, not ours. */
const yamlBlocks = all.filter((b) => {
  const named = /^# (\S+\.ya?ml)\b/.exec(b.code)?.[1];
  return b.lang === "yaml" && (named === undefined || named === "broker.yaml");
});

/**
 * The block as a file here: `broker` is this checkout's `mod.ts`, and a fixed port is any free
 * one, so that examples can run side by side with other tests.
 */
function localise(block: Block): string {
  return block.code
    .replaceAll('from "broker"', `from ${JSON.stringify(mod)}`)
    .replaceAll("127.0.0.1:1883", "127.0.0.1:0");
}

/**
 * Runs a program block; resolves with its exit code, its output and whether it was still running
 * (and so got SIGTERM) after a few seconds.
 */
async function runProgram(
  file: string,
): Promise<{ code: number | null; output: string; signalled: boolean }> {
  const [cmd, args] = runtimeCommand(file);
  const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => output += d);
  child.stderr.on("data", (d) => output += d);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  try {
    // Long enough for a slow start; a program that serves is still running afterwards.
    const early = await Promise.race([exited, sleep(4000).then(() => "running" as const)]);
    if (early !== "running") return { code: early, output, signalled: false };
    process.kill(child.pid!, "SIGTERM");
    const code = await within(exited, 10_000, "the example to exit after SIGTERM");
    return { code, output, signalled: true };
  } finally {
    child.kill("SIGKILL");
  }
}

describe("README code blocks", () => {
  test("there are blocks to check", () => {
    assert.ok(code.length >= 4, `${code.length} TypeScript/JavaScript blocks`);
    assert.ok(yamlBlocks.length >= 2, `${yamlBlocks.length} YAML blocks`);
  });

  for (const block of yamlBlocks) {
    test(`the YAML block at line ${block.line} is a valid configuration`, () => {
      const { problems } = validateConfig(parse(block.code));
      assert.deepEqual(problems, []);
    });
  }

  for (const block of code) {
    const plugin = /^export default /m.test(block.code);
    // A program that handles SIGTERM says it serves until then; any other ends by itself.
    const serves = /SIGTERM/.test(block.code);
    const what = plugin
      ? "loads as a plugin"
      : serves
      ? "serves until SIGTERM, then exits 0"
      : "runs to its end and exits 0";
    test(`the ${block.lang} block at line ${block.line} ${what}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "broker-readme-"));
      try {
        // As in a reader's project: an ES module package, so top-level await is allowed.
        writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
        const file = join(dir, `example.${block.lang === "ts" ? "ts" : "mjs"}`);
        writeFileSync(file, localise(block));
        if (plugin) {
          const broker = await createBroker({
            listeners: { default: { bind: "127.0.0.1:0" } },
            plugins: ["auth_anonymous", file],
            "topic-check": { enabled: true },
          }, { logger: memoryLogger() });
          await broker.close();
          return;
        }
        const { code, output, signalled } = await runProgram(file);
        assert.equal(signalled, serves, `${serves ? "ended before" : "still running at"} SIGTERM`);
        assert.equal(code, 0, output);
        assert.doesNotMatch(output, /error|Error/, output);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
