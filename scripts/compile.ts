/**
 * `npm run compile`: `dist/broker`, one executable that needs no Deno, Bun or Node on the machine
 * it runs on, built with `bun build --compile`.
 *
 *   npm run compile                     dist/broker for this machine
 *   npm run compile -- --outfile PATH   somewhere else (the tests build into a temp folder)
 *   npm run compile -- --target bun-linux-arm64   another platform (Bun downloads its runtime)
 *
 * Everything is bundled, npm dependencies included: the runtime adapters are imported with
 * literal specifiers, so Bun follows them, and `ws` comes along although Bun serves WebSocket itself
 * (MQTT.js, the bridges' remote side, uses it too).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: { outfile: { type: "string" }, target: { type: "string" } },
});
const outfile = resolve(values.outfile ?? join(root, "dist", "broker"));
mkdirSync(dirname(outfile), { recursive: true });

const bun = join(root, "node_modules", ".bin", "bun");
const args = [
  "build",
  "--compile",
  "--minify",
  // Precompiled bytecode roughly halves start-up for about 3 MiB more; it needs ESM output here
  // because the CLI uses top-level await.
  "--bytecode",
  "--format=esm",
  ...(values.target ? [`--target=${values.target}`] : []),
  // `broker example-config` prints it; the binary has no broker.yaml beside it.
  `--define=BROKER_EXAMPLE_CONFIG=${
    JSON.stringify(readFileSync(join(root, "broker.yaml"), "utf8"))
  }`,
  join(root, "src", "cli.ts"),
  "--outfile",
  outfile,
];
const result = spawnSync(bun, args, { stdio: ["ignore", "pipe", "inherit"], cwd: root });
if (result.status !== 0) {
  process.stdout.write(result.stdout);
  console.error(`compile: bun build exited with ${result.status ?? result.signal}`);
  process.exit(1);
}
const size = statSync(outfile).size;
const shown = relative(process.cwd(), outfile) || outfile;
console.log(`${shown}: ${(size / 1024 / 1024).toFixed(1)} MiB (${size} bytes)`);
