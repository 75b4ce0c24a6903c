/**
 * `npm run bench:store`: the persistence store's restart time and its size under churn.
 *
 *   npm run bench:store                          the counts, every runtime
 *   npm run bench:store -- --scale 0.1           a tenth of every count (a quick look)
 *   npm run bench:store -- --runtimes node,bun   some of: deno bun node
 *   npm run bench:store -- --runs 3              restarts per runtime (the median is reported)
 *   npm run bench:store -- --skip-churn          restart times only
 *   npm run bench:store -- --broker-root DIR     the broker and store of another checkout
 *                                                (with its node_modules), to compare
 *
 * With STORE_BENCH_DIR set, the files go there and stay (filled.db is the filled store).
 *
 * Restart: a store file is filled through the `Store` interface with 100,000 retained messages,
 * 10,000 sessions with a subscription each, and 500,000 queued messages (each stored once and
 * queued for one session, 50 per session); then the broker's CLI is started on a copy of that
 * file on each runtime (`deno run -A src/cli.ts`, `bun src/cli.ts`, `node dist/cli.js`, or
 * `node --import tsx src/cli.ts` without a build) and timed from spawn until its port accepts a
 * TCP connection: load, restore and listen. On Linux the CPU time the broker used until then is
 * given too, which a busy machine inflates less than the elapsed time.
 *
 * Churn: one hour of a busy edge box, compressed in time, written through the same interface as
 * the broker writes it, ten commits per simulated second. Each second 5 of 1,000 persistent
 * sessions disconnect and reconnect, one session ends and a new one takes its place, 200 QoS 1
 * messages are queued, sent and acknowledged, 20 retained topics (of 2,000) are set and 2
 * cleared. The file's size (with its WAL) after the first minute and after the hour are
 * compared: with deleted rows reclaimed, the second stays near the first.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "./bench/ports.ts";
import { cpuSeconds } from "./bench/procfs.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { openSqliteStore as OpenSqliteStore } from "../src/store/sqlite/sqlite.ts";
import type { Store } from "../src/store/types.ts";
const HOST = "127.0.0.1";
const RUNTIMES = ["deno", "bun", "node"] as const;
type Runtime = typeof RUNTIMES[number];

helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    runtimes: { type: "string", default: RUNTIMES.join(",") },
    runs: { type: "string", default: "1" },
    "skip-churn": { type: "boolean", default: false },
    "broker-root": { type: "string" },
  },
});
/** The checkout whose broker and store run: this one, or another to compare with. */
const root = values["broker-root"] ?? fileURLToPath(new URL("..", import.meta.url));
const { openSqliteStore } = await import(
  pathToFileURL(join(root, "src/store/sqlite/sqlite.ts")).href
) as { openSqliteStore: typeof OpenSqliteStore };
const scale = Number(values.scale);
if (!(scale > 0 && scale <= 10)) {
  throw new Error(`--scale ${values.scale}: need a number in (0, 10]`);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new Error(`--runs ${values.runs}: need a whole number`);
}
const runtimes = values.runtimes.split(",").map((r) => r.trim()) as Runtime[];
for (const r of runtimes) {
  if (!RUNTIMES.includes(r)) {
    throw new Error(`--runtimes: ${r} is not one of ${RUNTIMES.join(", ")}`);
  }
}

const counts = {
  retained: Math.round(100_000 * scale),
  sessions: Math.round(10_000 * scale),
  queued: Math.round(500_000 * scale),
};

/** A payload like a sensor reading's: 64 bytes. */
const PAYLOAD = new Uint8Array(64).fill(0x61);

/** Stores message `id`: the bench payload at QoS 1 on `topic`. */
function storeMessage(store: Store, id: number, topic: string, retain: boolean): void {
  store.messageStored({
    id,
    topic,
    payload: PAYLOAD,
    qos: 1,
    retain,
    properties: undefined,
    expiresAt: 0,
  });
}

/** Stores message `id`, a QoS 1 command to `clientId`, and queues it for that session at `seq`. */
function queueCommand(store: Store, id: number, clientId: string, seq: number): void {
  storeMessage(store, id, `commands/${clientId}/set`, false);
  store.deliveryAdded({
    clientId,
    seq,
    messageId: id,
    qos: 1,
    retain: false,
    packetId: 0,
    released: false,
    ids: undefined,
  });
}

/** Subscribes `clientId`'s session to its own commands, at QoS 1. */
function subscribeToCommands(store: Store, clientId: string): void {
  store.subscriptionAdded({
    clientId,
    filter: `commands/${clientId}/#`,
    options: {
      qos: 1,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionId: undefined,
      shareGroup: undefined,
    },
  });
}

/** Records between two commits while filling (a busy broker's turn is far smaller). */
const FILL_BATCH = 5_000;

async function fill(file: string): Promise<void> {
  const store = openSqliteStore(file, "normal");
  let records = 0;
  const step = async () => {
    if (++records % FILL_BATCH === 0) await await store.commit();
  };
  let id = 0;
  const now = Date.now();
  for (let i = 0; i < counts.retained; i++) {
    const topic = `sensors/${i % 100}/device/${i}`;
    storeMessage(store, ++id, topic, true);
    store.retainedSet(topic, id);
    await step();
  }
  for (let s = 0; s < counts.sessions; s++) {
    const clientId = `device-${s}`;
    // Half were connected when the broker stopped (their expiry starts at the restart), half not.
    const expiresAt = s % 2 === 0 ? 0 : now + 86_400_000;
    store.sessionSaved({
      clientId,
      username: undefined,
      protocolVersion: 4,
      expiryMs: 86_400_000,
      expiresAt,
    });
    subscribeToCommands(store, clientId);
    await step();
  }
  const perSession = Math.ceil(counts.queued / counts.sessions);
  for (let q = 0; q < counts.queued; q++) {
    const session = Math.floor(q / perSession);
    const clientId = `device-${session}`;
    queueCommand(store, ++id, clientId, (q % perSession) + 1);
    await step();
  }
  await store.close();
}

const bin = (name: string) => join(root, "node_modules", ".bin", name);

function command(runtime: Runtime): { cmd: string; args: string[]; label: string } {
  if (runtime === "deno") {
    return { cmd: bin("deno"), args: ["run", "-A", "src/cli.ts"], label: "deno run -A src/cli.ts" };
  }
  if (runtime === "bun") return { cmd: bin("bun"), args: ["src/cli.ts"], label: "bun src/cli.ts" };
  if (existsSync(join(root, "dist/cli.js"))) {
    return { cmd: process.execPath, args: ["dist/cli.js"], label: "node dist/cli.js" };
  }
  return {
    cmd: process.execPath,
    args: ["--import", "tsx", "src/cli.ts"],
    label: "node --import tsx src/cli.ts",
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** CPU seconds (user and system) process `pid` used so far, where /proc tells (Linux). */
function cpuSecondsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined;
  }
}

/**
 * Milliseconds from spawn until the port accepts a connection, and the CPU seconds used by then;
 * the broker is then stopped.
 */
async function restartOnce(
  runtime: Runtime,
  dir: string,
  source: string,
): Promise<[number, number | undefined]> {
  const file = join(dir, `restart-${runtime}.db`);
  rmSync(file, { force: true });
  rmSync(`${file}-wal`, { force: true });
  rmSync(`${file}-shm`, { force: true });
  copyFileSync(source, file);
  const port = await freePort();
  const config = join(dir, `restart-${runtime}.yaml`);
  writeFileSync(
    config,
    `listeners:\n  default:\n    bind: ${HOST}:${port}\npersistence:\n  path: ${file}\n  sync: normal\n`,
  );
  const { cmd, args } = command(runtime);
  const started = performance.now();
  const child: ChildProcess = spawn(cmd, [...args, "-c", config, "--log-level", "warn"], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => stderr += chunk);
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.on("close", () => {
      exited = true;
      resolve();
    })
  );
  try {
    for (;;) {
      if (exited) throw new Error(`${runtime}: the broker exited before listening:\n${stderr}`);
      if (performance.now() - started > 120_000) {
        throw new Error(`${runtime}: not listening after 120 s`);
      }
      if (await accepts(port)) return [performance.now() - started, cpuSecondsOf(child.pid)];
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await gone;
    clearTimeout(timer);
  }
}

function bytesOf(file: string): number {
  let bytes = 0;
  for (const suffix of ["", "-wal"]) {
    if (existsSync(file + suffix)) bytes += statSync(file + suffix).size;
  }
  return bytes;
}

/** One simulated hour of churn; returns the file's size after the first minute and the hour. */
async function churn(file: string): Promise<{ minute: number; hour: number; commits: number }> {
  const store: Store = openSqliteStore(file, "normal");
  const SESSIONS = 1_000;
  const TOPICS = 2_000;
  const TURNS_PER_SECOND = 10;
  const now = Date.now();
  let nextSession = SESSIONS;
  const live: string[] = [];
  const save = (clientId: string, connected: boolean) =>
    store.sessionSaved({
      clientId,
      username: undefined,
      protocolVersion: 5,
      expiryMs: 3_600_000,
      expiresAt: connected ? 0 : now + 3_600_000,
    });
  for (let s = 0; s < SESSIONS; s++) {
    live.push(`c-${s}`);
    save(live[s], true);
    subscribeToCommands(store, live[s]);
  }
  await store.commit();
  let id = 0;
  const seqs = new Map<string, number>();
  const nextSeq = (clientId: string) => {
    const seq = (seqs.get(clientId) ?? 0) + 1;
    seqs.set(clientId, seq);
    return seq;
  };
  let commits = 0;
  let minute = 0;
  let packet = 0;
  /** Sent in the previous turn, acknowledged in this one. */
  let sentBefore: [string, number, number][] = [];
  for (let second = 0; second < 3600; second++) {
    for (let turn = 0; turn < TURNS_PER_SECOND; turn++) {
      // 200 QoS 1 messages a second: stored, queued, sent, and acknowledged one turn later.
      for (const [clientId, seq, messageId] of sentBefore) {
        store.deliveryRemoved(clientId, seq, messageId);
      }
      sentBefore = [];
      for (let m = 0; m < 200 / TURNS_PER_SECOND; m++) {
        const clientId = live[(id * 7919) % live.length];
        const seq = nextSeq(clientId);
        queueCommand(store, ++id, clientId, seq);
        const sent = nextSeq(clientId);
        packet = packet === 65535 ? 1 : packet + 1;
        store.deliverySent(clientId, seq, sent, packet);
        sentBefore.push([clientId, sent, id]);
      }
      if (turn < 2) {
        // 20 retained topics set a second, 2 cleared.
        for (let r = 0; r < 10; r++) {
          const topic = `state/${(second * 20 + turn * 10 + r) % TOPICS}`;
          storeMessage(store, ++id, topic, true);
          store.retainedSet(topic, id);
        }
        store.retainedCleared(`state/${(second * 7 + turn) % TOPICS}`);
      }
      if (turn < 5) {
        // 5 sessions a second lose their connection and come back.
        const clientId = live[(second * 5 + turn) % live.length];
        save(clientId, false);
        await store.commit();
        save(clientId, true);
      }
      if (turn === 9) {
        // One session a second ends; a new one takes its place.
        const index = second % live.length;
        store.sessionEnded(live[index]);
        seqs.delete(live[index]);
        live[index] = `c-${nextSession++}`;
        save(live[index], true);
        subscribeToCommands(store, live[index]);
      }
      await store.commit();
      commits++;
    }
    if (second === 59) minute = bytesOf(file);
  }
  const hour = bytesOf(file);
  await store.close();
  return { minute, hour, commits };
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

const dir = process.env.STORE_BENCH_DIR ?? mkdtempSync(join(tmpdir(), "store-bench-"));
try {
  const source = join(dir, "filled.db");
  let started = performance.now();
  await fill(source);
  console.log(
    `filled ${source}: ${counts.retained} retained, ${counts.sessions} sessions with a ` +
      `subscription each, ${counts.queued} queued; ${mb(bytesOf(source))}, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  console.log("");
  console.log(`restart until the port accepts a connection (median of ${runs}):`);
  console.log("  runtime                         seconds  cpu seconds");
  for (const runtime of runtimes) {
    const samples: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [ms, seconds] = await restartOnce(runtime, dir, source);
      samples.push(ms);
      if (seconds !== undefined) cpu.push(seconds);
    }
    const label = command(runtime).label.padEnd(32);
    const used = cpu.length === runs ? median(cpu).toFixed(2) : "-";
    console.log(`  ${label}${(median(samples) / 1000).toFixed(2).padEnd(9)}${used}`);
  }
  if (!values["skip-churn"]) {
    started = performance.now();
    const { minute, hour, commits } = await churn(join(dir, "churn.db"));
    console.log("");
    console.log(
      `churn, one simulated hour (${commits} commits, ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s):`,
    );
    console.log(`  size after the first minute  ${mb(minute)}`);
    console.log(`  size after the hour          ${mb(hour)} (${(hour / minute).toFixed(2)}x)`);
  }
} finally {
  if (!process.env.STORE_BENCH_DIR) rmSync(dir, { recursive: true, force: true });
}
