/**
 * `npm run connect-cost`: what the broker's own code costs per CONNECT, CONNACK, DISCONNECT
 * cycle on each runtime, with the runtime's sockets replaced by connections in memory, so that
 * what `connrate` measures (the broker's CPU per cycle, sockets and kernel included) can be split
 * into the broker's part and the runtime's. Prints, per runtime, the median of the rounds after
 * the first (a warm-up) of the CPU time per cycle: the main thread's (the event loop, which the
 * broker's code runs on), and the whole process's (so the garbage collector's threads' too).
 * Linux only: the main thread's time comes from /proc.
 *
 *   npm run connect-cost                    3 rounds of 50,000 cycles, on deno, bun and node
 *   npm run connect-cost -- --cycles 100000 --rounds 5
 *
 * The cycles run as `connrate` runs them, 50 at once: each sends a 3.1.1 CONNECT with a client
 * id of its own, and a DISCONNECT once its CONNACK is written. Node runs `dist/mod.js` (run `npm
 * run build` first), Deno and Bun the sources.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { createBroker as CreateBroker } from "../mod.ts";
import type {
  ByteListener,
  Connection,
  ListenOptions,
  RuntimeAdapter,
} from "../src/runtime/types.ts";
import { CONNACK, DISCONNECT, encodeConnect } from "./bench/mqtt.ts";
import { cpuTimes } from "./bench/procfs.ts";
import { helpOnRequest } from "./usage.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "50000" },
    rounds: { type: "string", default: "3" },
    // Internal: run the measurement in this process, with the broker from this module.
    child: { type: "string" },
  },
});
const cycles = Number(values.cycles);
const rounds = Number(values.rounds);
if (!Number.isInteger(cycles) || cycles < 50) {
  throw new Error(`--cycles ${values.cycles}: need 50 or more`);
}
if (!Number.isInteger(rounds) || rounds < 2) {
  throw new Error(`--rounds ${values.rounds}: need 2 or more`);
}

/** Cycles in flight at once, as in `connrate`. */
const CONCURRENCY = 50;

/** One round's figures, in µs per cycle. */
interface Round {
  mainUs: number;
  cpuUs: number;
}

async function measure(module: string): Promise<Round[]> {
  const { createBroker } = await import(module) as { createBroker: typeof CreateBroker };
  let onConnection: ListenOptions["onConnection"] | undefined;
  const adapter: RuntimeAdapter = {
    name: "node",
    listen(options) {
      onConnection = options.onConnection;
      return Promise.resolve({ hostname: "127.0.0.1", port: 1883, close: () => Promise.resolve() });
    },
    serve() {
      return Promise.reject(new Error("connect-cost serves no HTTP"));
    },
  };
  const broker = await createBroker({ listeners: { mqtt: { bind: "127.0.0.1:1883" } } }, {
    adapter,
  });
  const accept = onConnection!;
  // Encoded before the clock starts: the CONNECTs are the load, not part of what is measured.
  const connects = Array.from(
    { length: rounds * cycles },
    (_, i) => new Uint8Array(encodeConnect(`bench-conn-${i}`, 60, 4)),
  );
  const disconnect = new Uint8Array(DISCONNECT);
  // Never read: the broker takes a connection's bytes through `open`. One pair for all of them,
  // so that the harness makes no streams per cycle.
  const readable = new ReadableStream<Uint8Array>();
  const writable = new WritableStream<Uint8Array>();
  const cycle = (i: number) =>
    new Promise<void>((resolve) => {
      let listener: ByteListener | undefined;
      const connection: Connection = {
        readable,
        writable,
        remoteAddr: { hostname: "127.0.0.1", port: 1024 + (i % 60_000), transport: "tcp" },
        close: () => resolve(),
        open(consumer) {
          listener = consumer;
          return {
            write(bytes) {
              if (bytes[0] >> 4 === CONNACK) queueMicrotask(() => consumer.onData(disconnect));
              return true;
            },
            pause() {},
            resume() {},
          };
        },
      };
      accept(connection);
      listener?.onData(connects[i]);
    });
  const results: Round[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const cpu = process.cpuUsage();
      const main = cpuTimes("thread-self");
      for (let i = 0; i < cycles; i += CONCURRENCY) {
        const base = round * cycles + i;
        await Promise.all(Array.from({ length: CONCURRENCY }, (_, k) => cycle(base + k)));
      }
      const used = process.cpuUsage(cpu);
      const mainNow = cpuTimes("thread-self");
      results.push({
        mainUs: ((mainNow.user + mainNow.system - main.user - main.system) * 1e6) / cycles,
        cpuUs: (used.user + used.system) / cycles,
      });
    }
  } finally {
    await broker.close();
  }
  return results;
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await measure(values.child)));
} else {
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  const script = fileURLToPath(import.meta.url);
  const sources = pathToFileURL(join(root, "mod.ts")).href;
  const dist = join(root, "dist", "mod.js");
  const args = ["--cycles", String(cycles), "--rounds", String(rounds), "--child"];
  const runtimes = [
    { name: "deno", cmd: bin("deno"), args: ["run", "-A", script, ...args, sources] },
    { name: "bun", cmd: bin("bun"), args: [script, ...args, sources] },
    {
      name: "node",
      cmd: process.execPath,
      args: ["--import", "tsx", script, ...args, pathToFileURL(dist).href],
      missing: existsSync(dist) ? undefined : "dist/mod.js is missing: run `npm run build`",
    },
  ];
  const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log("| runtime | main thread CPU per cycle (µs) | all threads (µs) |");
  console.log("| --- | --- | --- |");
  for (const runtime of runtimes) {
    if (runtime.missing) {
      console.log(`| ${runtime.name} | ${runtime.missing} | |`);
      continue;
    }
    const out = spawnSync(runtime.cmd, runtime.args, { cwd: root, encoding: "utf8" });
    const line = out.stdout?.trim().split("\n").at(-1) ?? "";
    if (out.status !== 0 || !line.startsWith("[")) {
      console.log(
        `| ${runtime.name} | failed: ${
          (out.stderr || out.error?.message || "").trim().split("\n").at(-1)
        } | |`,
      );
      continue;
    }
    const measured = (JSON.parse(line) as Round[]).slice(1);
    const main = median(measured.map((r) => r.mainUs)).toFixed(1);
    const cpu = median(measured.map((r) => r.cpuUs)).toFixed(1);
    console.log(`| ${runtime.name} | ${main} | ${cpu} |`);
  }
}
