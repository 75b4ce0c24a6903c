/**
 * `npm run startup-time`: how long each way of running the broker takes from spawn to its first
 * listener, i.e. until the `ready on` log line appears on stderr. Prints the median of several runs.
 *
 *   npm run startup-time                 7 runs of each
 *   npm run startup-time -- --runs 15
 *
 * Needs `npm run build` (for `node dist/cli.js`) and `npm run compile` (for `dist/broker`);
 * a command whose file is missing is reported and left out.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
helpOnRequest(import.meta.url);
const { values } = parseArgs({ options: { runs: { type: "string", default: "7" } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new Error(`--runs ${values.runs}: need a whole number`);
}

const bin = (name: string) => join(root, "node_modules", ".bin", name);
const listen = ["--host", "127.0.0.1", "--port", "0"];
const candidates: { name: string; needs: string; cmd: string; args: string[] }[] = [
  { name: "dist/broker (bun compile)", needs: "dist/broker", cmd: "dist/broker", args: [] },
  { name: "node dist/cli.js", needs: "dist/cli.js", cmd: process.execPath, args: ["dist/cli.js"] },
  { name: "bun src/cli.ts", needs: "src/cli.ts", cmd: bin("bun"), args: ["src/cli.ts"] },
  {
    name: "deno run -A src/cli.ts",
    needs: "src/cli.ts",
    cmd: bin("deno"),
    args: ["run", "-A", "src/cli.ts"],
  },
];

/** Milliseconds from spawn to the `ready on` line; the broker is then stopped with SIGTERM. */
function timeOnce(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, [...args, ...listen], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    let readyAfter: number | undefined;
    // A broker that never gets ready must not hang the measurement.
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
      if (readyAfter === undefined && stderr.includes("ready on")) {
        readyAfter = performance.now() - started;
        child.kill("SIGTERM");
      }
    });
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      if (readyAfter === undefined) reject(new Error(`${cmd} never got ready:\n${stderr}`));
      else resolve(readyAfter);
    });
  });
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

console.log(`start-up to first listener, ${runs} runs each (median, min-max):`);
for (const { name, needs, cmd, args } of candidates) {
  if (!existsSync(join(root, needs))) {
    console.log(`  ${name.padEnd(28)} skipped: ${needs} is missing`);
    continue;
  }
  // One unmeasured run warms the file cache, so the first sample is not an outlier.
  await timeOnce(cmd, args);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timeOnce(cmd, args));
  const low = Math.min(...samples).toFixed(0);
  const high = Math.max(...samples).toFixed(0);
  console.log(
    `  ${name.padEnd(28)} ${median(samples).toFixed(0).padStart(5)} ms  (${low}-${high})`,
  );
}
