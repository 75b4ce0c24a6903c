/**
 * The long fuzz run: a broker in a child process gets many generated malformed cases (the same
 * generator as `tests/hostile/fuzz.test.ts`) while a healthy publisher/subscriber pair keeps
 * round-tripping QoS 1 messages. Reports the case count and rate, cases the broker never closed,
 * round trips and misses of the pair, and the broker's resident memory.
 *
 *   npx tsx scripts/fuzz.ts [--cases 1000000] [--seed 1] [--concurrency 64] [--runtime node]
 *
 * Exits 1 if the broker died, a case hung, or the pair missed a message.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import mqtt from "mqtt";
import { statusKb } from "./bench/procfs.ts";
import { fuzz, type FuzzCase, spawnBroker } from "../tests/helpers/hostile.ts";

helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    concurrency: { type: "string", default: "64" },
    runtime: { type: "string", default: "node" },
  },
});
const cases = Number(values.cases);
const runtime = values.runtime as "node" | "deno" | "bun";

const broker = await spawnBroker({ "max-packet-size": 262144, "connect-timeout": 5 }, runtime);
const url = `mqtt://127.0.0.1:${broker.port}`;
const rssStart = statusKb(broker.pid, "VmRSS");
const options = { reconnectPeriod: 0, connectTimeout: 5000 };
const sub = await mqtt.connectAsync(url, { ...options, clientId: "fuzz-healthy-sub" });
const pub = await mqtt.connectAsync(url, { ...options, clientId: "fuzz-healthy-pub" });
await sub.subscribeAsync("healthy/pair", { qos: 1 });

let received = 0;
let misses = 0;
let expected = 0;
let waiting: (() => void) | undefined;
sub.on("message", (_topic, payload) => {
  if (Number(payload.toString()) !== received) misses++;
  received++;
  waiting?.();
});

let fuzzing = true;
const pair = (async () => {
  while (fuzzing && broker.alive) {
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      waiting = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    await pub.publishAsync("healthy/pair", String(expected++), { qos: 1 });
    if (!await arrived) misses++;
  }
})();

const started = Date.now();
let rssPeak = rssStart;
const sampler = setInterval(() => {
  if (!broker.alive) return;
  const rss = statusKb(broker.pid, "VmRSS");
  rssPeak = Math.max(rssPeak, rss);
  const elapsed = ((Date.now() - started) / 1000).toFixed(0);
  process.stderr.write(
    `\r${elapsed} s, round trips ${expected}, broker RSS ${(rss / 1024).toFixed(1)} MiB  `,
  );
}, 5000);

const hangs: FuzzCase[] = [];
const kinds = await fuzz(broker.port, {
  seed: Number(values.seed),
  count: cases,
  concurrency: Number(values.concurrency),
  onHang: (c) => hangs.push(c),
});
const seconds = (Date.now() - started) / 1000;
fuzzing = false;
await pair;
clearInterval(sampler);
const alive = broker.alive;
const rssEnd = alive ? statusKb(broker.pid, "VmRSS") : 0;
const hwm = alive ? statusKb(broker.pid, "VmHWM") : 0;
sub.end(true);
pub.end(true);
await broker.stop();

console.log(
  `\nfuzz: ${cases} cases on ${runtime} in ${seconds.toFixed(1)} s (${
    (cases / seconds).toFixed(0)
  }/s), seed ${values.seed}`,
);
for (const [kind, n] of [...kinds].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${String(n).padStart(8)}  ${kind}`);
}
console.log(`broker alive at the end: ${alive ? "yes" : "NO"}`);
console.log(
  `cases the broker never closed: ${hangs.length}${
    hangs.length ? ` (${[...new Set(hangs.map((h) => h.kind))].join(", ")})` : ""
  }`,
);
console.log(
  `healthy pair: ${expected} QoS 1 round trips, ${received} received, ${misses} missed or out of order`,
);
console.log(
  `broker RSS: start ${(rssStart / 1024).toFixed(1)} MiB, peak ${
    (Math.max(rssPeak, hwm) / 1024).toFixed(1)
  } MiB, end ${(rssEnd / 1024).toFixed(1)} MiB`,
);
process.exit(alive && hangs.length === 0 && misses === 0 && received === expected ? 0 : 1);
