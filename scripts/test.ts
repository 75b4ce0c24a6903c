/**
 * Runs the static checks, then the whole test suite on Deno, Bun and Node, and fails if any fails.
 *
 *   npm test                          checks + every runtime
 *   npm test -- --runtime node        one runtime (repeatable)
 *   npm test -- tests/broker/x.test.ts  only these files
 *   npm test -- --no-checks           skip fmt/lint/typecheck
 *   npm run check                     only fmt/lint/typecheck
 *
 * Prints one line per runtime and a last line `tests: N passed, N failed`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";

helpOnRequest(import.meta.url);
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runtime: { type: "string", multiple: true },
    "no-checks": { type: "boolean" },
    "only-checks": { type: "boolean" },
  },
});

const bin = (name: string) => join("node_modules", ".bin", name);

function listTests(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return listTests(path);
    return entry.endsWith(".test.ts") ? [path] : [];
  }).sort();
}

interface Outcome {
  code: number;
  output: string;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const tee = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk.toString();
      stream.write(chunk);
    };
    child.stdout.on("data", tee(process.stdout));
    child.stderr.on("data", tee(process.stderr));
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

type Counts = { passed: number; failed: number };

/** Deno reports `describe` blocks as tests and their tests as steps: count the leaves only. */
function countJunitLeaves(xml: string): Counts {
  const cases = [...xml.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)]
    .map((m) => ({
      name: m[1],
      failed: /<failure/.test(m[3] ?? ""),
      skipped: /<skipped/.test(m[3] ?? ""),
    }));
  const leaves = cases.filter((c) => !cases.some((o) => o.name.startsWith(`${c.name} &gt; `)));
  const failed = leaves.filter((c) => c.failed).length;
  const skipped = leaves.filter((c) => c.skipped).length;
  return { passed: leaves.length - failed - skipped, failed };
}

function last(output: string, re: RegExp): number | undefined {
  const all = [...output.matchAll(re)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

const runtimes: Record<string, (files: string[]) => Promise<Counts & { code: number }>> = {
  async deno(files) {
    const junit = join(mkdtempSync(join(tmpdir(), "deno-junit-")), "report.xml");
    const args = ["test", "-A", "--quiet", `--junit-path=${junit}`, ...files];
    const { code } = await run(bin("deno"), args);
    const counts = existsSync(junit) ? countJunitLeaves(readFileSync(junit, "utf8")) : undefined;
    rmSync(dirname(junit), { recursive: true, force: true });
    return { code, passed: counts?.passed ?? 0, failed: counts?.failed ?? (code ? 1 : 0) };
  },
  async bun(files) {
    const args = ["test", "--timeout", "30000", ...files.map((f) => `./${f}`)];
    const { code, output } = await run(bin("bun"), args);
    const passed = last(output, /^\s*(\d+) pass$/gm) ?? 0;
    const failed = last(output, /^\s*(\d+) fail$/gm) ?? (code ? 1 : 0);
    return { code, passed, failed };
  },
  async node(files) {
    // TAP by name: newer Node prints a human-readable report by default, which has no counts.
    const args = [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=tap",
      "--test-timeout=60000",
      ...files,
    ];
    const { code, output } = await run(process.execPath, args);
    const passed = last(output, /^# pass (\d+)$/gm) ?? 0;
    const failed = last(output, /^# fail (\d+)$/gm) ?? (code ? 1 : 0);
    return { code, passed, failed };
  },
};

async function checks(): Promise<boolean> {
  let ok = true;
  for (
    const [cmd, args] of [
      [bin("deno"), ["fmt", "--check"]],
      [bin("deno"), ["lint"]],
      [bin("tsc"), ["-p", "tsconfig.json"]],
    ] as const
  ) {
    console.log(`\n== ${cmd} ${args.join(" ")}`);
    const { code } = await run(cmd, [...args]);
    if (code !== 0) ok = false;
  }
  return ok;
}

let failedChecks = false;
if (!values["no-checks"]) failedChecks = !(await checks());
if (values["only-checks"]) process.exit(failedChecks ? 1 : 0);

const files = (positionals.length ? positionals : ["tests"]).flatMap((path) =>
  statSync(path).isDirectory() ? listTests(path) : [path]
);
const chosen = values.runtime ?? Object.keys(runtimes);
const summary: string[] = [];
let passed = 0;
let failed = 0;
let broken = failedChecks;
for (const name of chosen) {
  const runner = runtimes[name];
  if (!runner) throw new Error(`unknown runtime ${name}: use deno, bun or node`);
  console.log(`\n== ${name}: ${files.length} test files`);
  const result = await runner(files);
  passed += result.passed;
  failed += result.failed;
  // On the whole suite, a runner that ran nothing (a changed report format, a crash before the
  // first file) is a failure; a chosen file may legitimately skip on some runtime.
  const ranNothing = positionals.length === 0 && result.passed === 0;
  if (result.code !== 0 || result.failed > 0 || ranNothing) broken = true;
  summary.push(`${name}: ${result.passed} passed, ${result.failed} failed (exit ${result.code})`);
}
console.log("\n== summary");
if (failedChecks) console.log("checks: fmt, lint or typecheck failed (see above)");
for (const line of summary) console.log(line);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(broken ? 1 : 0);
