/**
 * The benchmark: this broker on Deno, Bun and Node against Aedes and Mosquitto, on loopback, in one
 * run, as ratios. This driver and the load generator it starts run on Node through tsx.
 *
 *   npm run bench                               everything but idle50k, under 5 minutes
 *   npm run bench -- --quick                    short windows, 1,000 idle connections, ~2 minutes
 *   npm run bench -- --brokers bun,mosquitto    some of: deno bun node aedes mosquitto
 *   npm run bench -- --scenarios fanin,qos1     some of: fanin fanout qos1 latency idle connrate
 *                                               fanin5 fanout5 qos1v5 shared shared5 bridge qos1d
 *                                               idle50k
 *
 * Our broker is started by its CLI: `deno run -A src/cli.ts`, `bun src/cli.ts`, and
 * `node dist/cli.js` (run `npm run build` first; without dist/cli.js Node runs
 * `node --import tsx src/cli.ts`, and the report says so). Aedes runs from scripts/bench/aedes-server.ts with its
 * defaults. Mosquitto runs when the `mosquitto` program is installed (`apt-get install mosquitto`)
 * with MOSQUITTO_SETTINGS below, and is skipped with a note otherwise.
 *
 * Scenarios, all with 64-byte payloads; throughput is messages delivered to subscribers per second
 * over the window (5 s after a 1 s warm-up; 0.8 s after 0.4 s with --quick), publishers sending as
 * fast as socket backpressure allows:
 * - fanin: 10 publishers on bench/N, QoS 0, one subscriber on bench/#
 * - fanout: 10 publishers, QoS 0, 20 subscribers on the same topic
 * - qos1: 10 publishers keeping 100 QoS 1 messages in flight each, one acking subscriber on
 *   bench/#; also how many messages the broker acknowledged to a publisher but had not delivered
 *   3 s after publishing stopped ("lost")
 * - latency: one publisher at a fixed 10,000 msg/s with a timestamp in the payload; p50/p99
 * - idle: 5,000 connections (1,000 with --quick) that CONNECT and stay idle; broker VmRSS growth
 *   per connection
 * - connrate: CONNECT, CONNACK, DISCONNECT cycles in sequential batches of 50 at once, per second
 * - fanin5, fanout5, qos1v5: fanin, fanout and qos1 with every client speaking MQTT 5.0; each
 *   fanin5 PUBLISH carries a user property (which the broker must forward), the others none
 * - shared, shared5: 10 publishers on bench/N, QoS 0, into one shared subscription
 *   $share/bench/bench/# with 5 members, 3.1.1 and 5.0; throughput counts each message once however
 *   many members got it, and the duplicates (a message delivered to a second member) are reported
 * - bridge: qos1 with the subscriber on a second Mosquitto, which the broker measured forwards
 *   to through a bridge (`bench/#` out at QoS 1, 3.1.1; ours: the `bridges` key, Mosquitto: a
 *   `connection`); `lost` counts what the edge acknowledged and the remote had not delivered by
 *   the end of the drain (an edge that acknowledges faster than it forwards builds a backlog).
 *   Aedes has no outgoing bridge and is skipped.
 * - qos1d: qos1 with both brokers at their default bounds (ours with no `max-inflight-messages`,
 *   `max-queued-messages` or `max-queued-bytes`; Mosquitto without its `max_inflight_messages` and
 *   `max_queued_messages` lines: 20 in flight, 1,000 queued for both), as a user who changes
 *   nothing sees it; `lost` counts what was dropped at the queue bound
 * - idle50k (only with `--scenarios idle50k`, it takes minutes): 50,000 connections from
 *   127.0.0.2 and up (10,000 per source address, past the ephemeral port range), each subscribed
 *   to a topic of its own, keepalive 60 s, pinging every 30 s; broker VmRSS growth per connection,
 *   and the QoS 0 publish → delivery p99 of one more pair while they sit there. Every child's soft
 *   limit on open files is raised to the hard one (`ulimit -n`); where that is under 50,000 plus a
 *   margin, idle50k makes as many connections as it allows, and the report says how many
 *   (`connected`).
 * These five run last, with a shorter window (1.5 s after 0.5 s; the --quick ones with --quick), so
 * that the whole run stays under 5 minutes. Aedes does not speak 5.0 and is skipped for the 5.0
 * ones; a broker that refuses 5.0 (CONNACK return code 1 or reason 0x84) or shared subscriptions
 * (SUBACK 0x80 or 0x9e, or a granted shared filter that delivers nothing) is reported as
 * "unsupported" for that scenario and the run goes on.
 *
 * For each scenario each broker in turn gets a fresh process on a free 127.0.0.1 port, and a fresh
 * load generator (scripts/bench/loadgen.ts) in a separate process drives it and reads the broker's
 * CPU time and memory from /proc. A broker that exits, or refuses connections, mid-run is reported
 * as crashed and the run goes on. The report also gives broker CPU and peak RSS, the load
 * generator's CPU (near 100% means it, not the broker, was the limit) and the CPU used by
 * everything else on the machine. Results go to bench/results/latest.{json,md} and a timestamped
 * copy (not committed).
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  DEFAULT_BOUNDS_SCENARIOS,
  type Job,
  type LoadResult,
  MQTT5_SCENARIOS,
  OPT_IN_SCENARIOS,
  RESULT_PREFIX,
  SCENARIO_IDS,
  type ScenarioId,
} from "./bench/shared.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const RESULTS_DIR = join(ROOT, "bench", "results");
const HOST = "127.0.0.1";

const BROKER_NAMES = ["deno", "bun", "node", "aedes", "mosquitto"] as const;
type BrokerName = (typeof BROKER_NAMES)[number];

/**
 * Mosquitto's defaults (20 in flight, 1,000 queued) would make it drop QoS 1 messages under the qos1
 * load, and so did 100,000 queued; logging every connection would slow the connection scenarios.
 * Nagle's algorithm stays on, as by default: with `set_tcp_nodelay true` Mosquitto sends one TCP
 * segment per message and delivered half as many QoS 0 messages here, for the same p50 latency.
 */
/**
 * The same bounds for this broker as Mosquitto gets above (its defaults, 20 in flight and 1,000
 * queued, would drop QoS 1 messages under the qos1 load just as Mosquitto's do).
 */
const OUR_SETTINGS = [
  "max-inflight-messages: 1000",
  "max-queued-messages: 1000000",
  "max-queued-bytes: 0",
];

/** What Mosquitto gets in every scenario; the bounds below only outside the default-bounds ones. */
const MOSQUITTO_BASE = [
  "allow_anonymous true",
  "connection_messages false",
  "log_type error",
  "log_type warning",
  "log_dest stderr",
];

const MOSQUITTO_BOUNDS = ["max_inflight_messages 1000", "max_queued_messages 1000000"];

const MOSQUITTO_SETTINGS = [...MOSQUITTO_BASE, ...MOSQUITTO_BOUNDS];

interface Settings {
  warmupMs: number;
  windowMs: number;
  /** Warm-up and window of the {@link SHORT_SCENARIOS}. */
  shortWarmupMs: number;
  shortWindowMs: number;
  drainMs: number;
  idleConnections: number;
  /** No run starts after this long; the last one to start ends well within 5 minutes. */
  budgetMs: number;
}

/** The scenarios added for MQTT 5.0, measured over shorter windows to keep the run bounded. */
const SHORT_SCENARIOS: ReadonlySet<ScenarioId> = new Set([...MQTT5_SCENARIOS, "shared", "bridge"]);

const FULL: Settings = {
  warmupMs: 1000,
  windowMs: 5000,
  shortWarmupMs: 500,
  shortWindowMs: 1500,
  drainMs: 3000,
  idleConnections: 5000,
  budgetMs: 280_000,
};
const QUICK: Settings = {
  warmupMs: 400,
  windowMs: 800,
  shortWarmupMs: 400,
  shortWindowMs: 800,
  drainMs: 1000,
  idleConnections: 1000,
  budgetMs: 150_000,
};

function windows(settings: Settings, scenario: ScenarioId): { warmupMs: number; windowMs: number } {
  return SHORT_SCENARIOS.has(scenario)
    ? { warmupMs: settings.shortWarmupMs, windowMs: settings.shortWindowMs }
    : { warmupMs: settings.warmupMs, windowMs: settings.windowMs };
}

interface Launch {
  command: string;
  args: string[];
}

interface Broker {
  name: BrokerName;
  /** Why the broker cannot run here, or null. */
  missing: string | null;
  /** Why the broker is not asked to speak MQTT 5.0, or null. */
  noMqtt5: string | null;
  /** Why the broker cannot bridge out, or null. */
  noBridge: string | null;
  /** Said in the report, e.g. how Node was started. */
  note: string | null;
  /**
   * With `remotePort`: bridging `bench/#` out to the broker there; with `defaults`, no bounds
   * raised (in flight, queued), as a user who changes nothing runs it.
   */
  launch(port: number, remotePort?: number, defaults?: boolean): Launch;
}

type Status = "ok" | "crashed" | "error" | "unsupported" | "skipped";

interface Outcome {
  broker: BrokerName;
  scenario: ScenarioId;
  status: Status;
  note?: string;
  result?: LoadResult;
}

interface Row {
  scenario: ScenarioId;
  key: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  ratios: boolean;
}

const ROWS: Row[] = [
  {
    scenario: "fanin",
    key: "rate",
    label: "fan-in QoS 0: 10 pub → 1 sub on bench/#",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "fanout",
    key: "rate",
    label: "fan-out QoS 0: 10 pub → 20 sub, one topic",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1",
    key: "rate",
    label: "QoS 1: 10 pub × 100 in flight → 1 sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1",
    key: "lost",
    label: "QoS 1: acknowledged but never delivered",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "latency",
    key: "p50Ms",
    label: "latency p50 at 10k msg/s",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "latency",
    key: "p99Ms",
    label: "latency p99 at 10k msg/s",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "idle",
    key: "rssPerConnKb",
    label: "RSS per idle connection",
    unit: "KiB",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "connrate",
    key: "rate",
    label: "connection rate: CONNECT+CONNACK",
    unit: "conn/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "fanin5",
    key: "rate",
    label: "5.0 fan-in QoS 0, with a user property",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "fanout5",
    key: "rate",
    label: "5.0 fan-out QoS 0: 10 pub → 20 sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1v5",
    key: "rate",
    label: "5.0 QoS 1: 10 pub × 100 in flight → 1 sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1v5",
    key: "lost",
    label: "5.0 QoS 1: acknowledged but never delivered",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "shared",
    key: "rate",
    label: "3.1.1 shared QoS 0: 10 pub → $share, 5 members",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "shared",
    key: "duplicates",
    label: "3.1.1 shared: delivered to a second member",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "shared5",
    key: "rate",
    label: "5.0 shared QoS 0: 10 pub → $share, 5 members",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "shared5",
    key: "duplicates",
    label: "5.0 shared: delivered to a second member",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "bridge",
    key: "rate",
    label: "bridge QoS 1: 10 pub → edge → bridge → Mosquitto → 1 sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "bridge",
    key: "lost",
    label: "bridge QoS 1: acked by the edge, not delivered by the end of the drain",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "qos1d",
    key: "rate",
    label: "QoS 1, default bounds: 10 pub × 100 in flight → 1 sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1d",
    key: "lost",
    label: "QoS 1, default bounds: dropped (acked, never delivered)",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "idle50k",
    key: "rssPerConnKb",
    label: "RSS per idle subscribed connection, idle50k",
    unit: "KiB",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "idle50k",
    key: "connected",
    label: "idle50k: connections held",
    unit: "conns",
    better: "higher",
    ratios: false,
  },
  {
    scenario: "idle50k",
    key: "p99Ms",
    label: "idle50k: QoS 0 round trip p99 of one active pair",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
];

/** The ratios issue 11 sets targets for, per runtime of this broker. */
interface Target {
  label: string;
  /** The ratio must reach this. */
  atLeast: number;
  scenario: ScenarioId;
  /** Divided by this broker's own figure in `ownScenario`, or else by Mosquitto's in `scenario`. */
  ownScenario?: ScenarioId;
}

const TARGETS: Target[] = [
  {
    label: "5.0 fan-out ÷ this broker's 3.1.1 fan-out",
    atLeast: 0.8,
    scenario: "fanout5",
    ownScenario: "fanout",
  },
  { label: "5.0 fan-out ÷ Mosquitto 5.0 fan-out", atLeast: 5, scenario: "fanout5" },
  { label: "5.0 shared ÷ Mosquitto 5.0 shared", atLeast: 2, scenario: "shared5" },
  { label: "3.1.1 shared ÷ Mosquitto 3.1.1 shared", atLeast: 2, scenario: "shared" },
];

const RUNTIMES: readonly BrokerName[] = ["deno", "bun", "node"];

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

function cleanUp(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settled within `ms`; the timer is cleared so that it keeps nothing alive. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function which(program: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const dir of dirs.filter((d) => d !== "")) {
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      continue;
    }
  }
  return null;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function brokers(): Broker[] {
  const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);
  const cli = join(ROOT, "src", "cli.ts");
  const noCli = existsSync(cli) ? null : "src/cli.ts does not exist yet";
  const ours = (port: number, remotePort?: number, defaults = false): string[] => {
    const dir = mkdtempSync(join(tmpdir(), "bench-broker-"));
    tempDirs.add(dir);
    const config = join(dir, "broker.yaml");
    const bind = [`listeners:`, `  default:`, `    bind: ${HOST}:${port}`];
    const bridge = remotePort === undefined ? [] : [
      "bridges:",
      "  bench:",
      `    address: mqtt://${HOST}:${remotePort}`,
      "    protocol: 4",
      '    topics: [{ pattern: "bench/#", qos: 1 }]',
      "    max-queued-messages: 1000000",
    ];
    const bounds = defaults ? [] : OUR_SETTINGS;
    writeFileSync(config, [...bind, ...bounds, ...bridge, ""].join("\n"));
    return ["-c", config];
  };
  const dist = join(ROOT, "dist", "cli.js");
  let nodeNote: string | null = null;
  if (!existsSync(dist)) {
    nodeNote = "dist/cli.js missing (run `npm run build`): Node ran `node --import tsx src/cli.ts`";
  } else if (noCli === null && statSync(dist).mtimeMs < newestMtime(join(ROOT, "src"))) {
    nodeNote = "dist/cli.js is older than src/: run `npm run build` to measure the current code";
  }
  const mosquitto = which("mosquitto");
  return [
    {
      name: "deno",
      missing: noCli,
      noMqtt5: null,
      note: null,
      noBridge: null,
      launch: (port, remote, defaults) => ({
        command: bin("deno"),
        args: ["run", "-A", cli, ...ours(port, remote, defaults)],
      }),
    },
    {
      name: "bun",
      missing: noCli,
      noMqtt5: null,
      note: null,
      noBridge: null,
      launch: (port, remote, defaults) => ({
        command: bin("bun"),
        args: [cli, ...ours(port, remote, defaults)],
      }),
    },
    {
      name: "node",
      missing: noCli,
      noMqtt5: null,
      note: nodeNote,
      noBridge: null,
      launch: (port, remote, defaults) => ({
        command: process.execPath,
        args: existsSync(dist)
          ? [dist, ...ours(port, remote, defaults)]
          : ["--import", "tsx", cli, ...ours(port, remote, defaults)],
      }),
    },
    {
      name: "aedes",
      missing: null,
      noMqtt5: "Aedes does not speak MQTT 5.0",
      noBridge: "Aedes has no outgoing bridge",
      note: null,
      launch: (port) => ({
        command: process.execPath,
        args: [
          "--import",
          "tsx",
          join(ROOT, "scripts", "bench", "aedes-server.ts"),
          "--port",
          String(port),
        ],
      }),
    },
    {
      name: "mosquitto",
      missing: mosquitto === null ? "mosquitto is not installed (apt-get install mosquitto)" : null,
      noMqtt5: null,
      note: null,
      noBridge: null,
      launch: (port, remote, defaults) => {
        const dir = mkdtempSync(join(tmpdir(), "bench-mosquitto-"));
        tempDirs.add(dir);
        const config = join(dir, "mosquitto.conf");
        const bridge = remote === undefined ? [] : [
          "connection bench",
          `address ${HOST}:${remote}`,
          "topic bench/# out 1",
          "bridge_protocol_version mqttv311",
          "cleansession false",
        ];
        writeFileSync(
          config,
          [
            `listener ${port} ${HOST}`,
            ...(defaults ? MOSQUITTO_BASE : MOSQUITTO_SETTINGS),
            ...bridge,
            "",
          ].join("\n"),
        );
        return { command: mosquitto ?? "mosquitto", args: ["-c", config] };
      },
    },
  ];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A child process with the tail of its output kept for the report. */
interface Running {
  child: ChildProcess;
  tail: () => string;
  exited: Promise<void>;
}

/**
 * The hard limit on open files, which every child's soft limit is raised to (idle50k holds one
 * descriptor per connection in the broker and one in the load generator); 0 if unknown.
 */
const FILE_LIMIT = (() => {
  const out = spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout?.trim();
  const limit = out === "unlimited" ? 1_048_576 : Number(out);
  return Number.isInteger(limit) && limit > 0 ? limit : 0;
})();

/** Descriptors a process needs besides its connections (listeners, pipes, runtime's own). */
const FILE_MARGIN = 500;

/** How many connections idle50k makes: 50,000, or what {@link FILE_LIMIT} leaves room for. */
function idle50kConnections(): number {
  return FILE_LIMIT === 0 ? 50_000 : Math.min(50_000, FILE_LIMIT - FILE_MARGIN);
}

function start(launch: Launch, stdin: "ignore" | "pipe" = "ignore"): Running {
  // `exec` keeps the process id, which the load generator reads /proc by.
  const raise = FILE_LIMIT === 0 ? [] : [`ulimit -n ${FILE_LIMIT} 2>/dev/null; exec "$0" "$@"`];
  const [command, args] = raise.length === 0
    ? [launch.command, launch.args]
    : ["sh", ["-c", ...raise, launch.command, ...launch.args]];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    stdio: [stdin, "pipe", "pipe"],
  });
  children.add(child);
  let tail = "";
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-8192);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => {
    child.on("error", (error) => {
      keep(Buffer.from(`\n${error.message}\n`));
      resolve();
    });
    child.on("exit", () => resolve());
  });
  exited.then(() => children.delete(child));
  return { child, tail: () => tail, exited };
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stop(running: Running): Promise<void> {
  if (hasExited(running.child) || running.child.pid === undefined) return;
  running.child.kill("SIGTERM");
  if (!(await within(running.exited, 2000))) {
    running.child.kill("SIGKILL");
    await within(running.exited, 2000);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitUntilAccepting(
  port: number,
  running: Running,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (hasExited(running.child)) {
      throw new Error(`exited before listening: ${lastError(running.tail())}`);
    }
    if (await accepts(port)) return;
    await sleep(100);
  }
  throw new Error(`not accepting connections on port ${port} after ${timeoutMs} ms`);
}

/** The line of a crash log that says what happened, rather than where. */
function lastError(tail: string): string {
  const lines = tail.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const telling = lines.filter((line) =>
    /error|exception|panic|fatal|abort|segmentation/i.test(line)
  );
  return (telling.at(-1) ?? "no error in its output").slice(0, 200);
}

function describeExit(child: ChildProcess): string {
  return child.signalCode !== null
    ? `killed by ${child.signalCode}`
    : `exit code ${child.exitCode}`;
}

/** A load generator process, started early so that its boot overlaps the broker's. */
interface Loadgen {
  running: Running;
  stdout: () => string;
}

function startLoadgen(): Loadgen {
  const running = start({
    command: process.execPath,
    args: ["--import", "tsx", join(ROOT, "scripts", "bench", "loadgen.ts")],
  }, "pipe");
  let stdout = "";
  running.child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  // A load generator that died early closes its stdin; the exit is what gets reported.
  running.child.stdin?.on("error", () => {});
  return { running, stdout: () => stdout };
}

async function runLoadgen(loadgen: Loadgen, job: Job): Promise<LoadResult> {
  const { running } = loadgen;
  running.child.stdin?.end(`${JSON.stringify(job)}\n`);
  const finished = await within(running.exited, job.deadlineMs + 10_000);
  if (!finished) await stop(running);
  const line = loadgen.stdout().split("\n").find((l) => l.startsWith(RESULT_PREFIX));
  if (line === undefined) {
    return {
      status: "failed",
      error: `load generator ${finished ? "ended" : "hung"} without a result: ${
        lastError(running.tail())
      }`,
      metrics: {},
    };
  }
  return JSON.parse(line.slice(RESULT_PREFIX.length)) as LoadResult;
}

function deadline(settings: Settings, scenario: ScenarioId): number {
  const { warmupMs, windowMs } = windows(settings, scenario);
  const drains = scenario === "qos1" || scenario === "qos1v5" || scenario === "qos1d";
  return warmupMs + windowMs + (drains ? settings.drainMs : 0) +
    (scenario === "idle50k" ? 240_000 : scenario === "idle" ? 30_000 : 15_000);
}

async function runOne(broker: Broker, scenario: ScenarioId, settings: Settings): Promise<Outcome> {
  const base = { broker: broker.name, scenario };
  const port = await freePort();
  // The bridge scenario's remote: a Mosquitto of its own, whichever broker bridges to it.
  const remotePort = scenario === "bridge" ? await freePort() : undefined;
  const remote = remotePort === undefined
    ? undefined
    : start(brokers().find((b) => b.name === "mosquitto")!.launch(remotePort));
  const loadgen = startLoadgen();
  const running = start(
    broker.launch(port, remotePort, DEFAULT_BOUNDS_SCENARIOS.has(scenario)),
  );
  try {
    try {
      if (remote !== undefined) await waitUntilAccepting(remotePort!, remote, 30_000);
      await waitUntilAccepting(port, running, 30_000);
    } catch (error) {
      return {
        ...base,
        status: "error",
        note: error instanceof Error ? error.message : String(error),
      };
    }
    // Give a runtime a moment to finish start-up work before the idle RSS baseline is taken.
    if (scenario === "idle") await sleep(200);
    const result = await runLoadgen(loadgen, {
      scenario,
      port,
      subscribePort: remotePort,
      brokerPid: running.child.pid ?? 0,
      ...windows(settings, scenario),
      drainMs: settings.drainMs,
      idleConnections: scenario === "idle50k" ? idle50kConnections() : settings.idleConnections,
      payloadBytes: 64,
      latencyRate: 10_000,
      deadlineMs: deadline(settings, scenario),
    });
    // All clients leaving at once is part of the test (Aedes 1.2 overflows its stack then), and a
    // crash that made the load generator fail may be reported a little after it.
    await within(running.exited, result.status === "failed" ? 1000 : 700);
    if (hasExited(running.child) || result.brokerDown === true) {
      const when = result.status === "ok" ? "after the window, as its clients went away: " : "";
      const why = hasExited(running.child)
        ? `${describeExit(running.child)}: ${lastError(running.tail())}`
        : "process alive but refusing connections";
      return {
        ...base,
        status: "crashed",
        note: `${when}${why}${result.error ? ` (${result.error})` : ""}`,
        result,
      };
    }
    if (result.status === "failed") {
      const status = result.unsupported === true ? "unsupported" : "error";
      return { ...base, status, note: result.error, result };
    }
    return { ...base, status: "ok", result };
  } finally {
    await Promise.all([stop(running), stop(loadgen.running)]);
    if (remote !== undefined) await stop(remote);
  }
}

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "n/a";
  if (unit === "ms") return value < 10 ? value.toFixed(2) : value.toFixed(1);
  if (unit === "KiB") return value.toFixed(1);
  if (value >= 10_000) return `${(value / 1000).toFixed(0)}k`;
  return value.toFixed(0);
}

function ratio(value: number, reference: number | undefined): string | null {
  if (reference === undefined || !Number.isFinite(value) || !(reference > 0)) return null;
  const r = value / reference;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function find(outcomes: Outcome[], broker: BrokerName, scenario: ScenarioId): Outcome | undefined {
  return outcomes.find((o) => o.broker === broker && o.scenario === scenario);
}

function metric(outcome: Outcome | undefined, key: string): number | undefined {
  return outcome?.status === "ok" ? outcome.result?.metrics[key] : undefined;
}

/** The cell of a run without a usable result; a crash after a completed window keeps its number. */
function statusCell(outcome: Outcome | undefined, row?: Row): string {
  if (outcome === undefined) return "";
  const value = outcome.result?.status === "ok" && row !== undefined
    ? outcome.result.metrics[row.key]
    : undefined;
  if (outcome.status === "crashed" && value !== undefined) {
    return `${formatValue(value, row?.unit ?? "")}, then crashed`;
  }
  return outcome.status;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

function resultsTable(outcomes: Outcome[], names: BrokerName[]): string {
  const rows = ROWS.filter((row) => outcomes.some((o) => o.scenario === row.scenario)).map(
    (row) => {
      const reference = {
        mosquitto: metric(find(outcomes, "mosquitto", row.scenario), row.key),
        aedes: metric(find(outcomes, "aedes", row.scenario), row.key),
      };
      const cells = names.map((name) => {
        const outcome = find(outcomes, name, row.scenario);
        const value = metric(outcome, row.key);
        if (value === undefined) return statusCell(outcome, row);
        const against = row.ratios
          ? [
            name !== "mosquitto" ? ratio(value, reference.mosquitto) : null,
            name !== "aedes" && name !== "mosquitto" ? ratio(value, reference.aedes) : null,
          ]
          : [null, null];
        const parts = [
          against[0] === null ? null : `${against[0]} M`,
          against[1] === null ? null : `${against[1]} A`,
        ].filter((p) => p !== null);
        return `${formatValue(value, row.unit)}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
      });
      return [`${row.label} (${row.unit}, ${row.better} is better)`, ...cells];
    },
  );
  return table(["scenario", ...names], rows);
}

function targetsTable(outcomes: Outcome[], names: BrokerName[]): string {
  const runtimes = RUNTIMES.filter((name) => names.includes(name));
  const rows = TARGETS.filter((t) => outcomes.some((o) => o.scenario === t.scenario)).map((t) => [
    t.label,
    `≥ ${t.atLeast}`,
    ...runtimes.map((name) => {
      const outcome = find(outcomes, name, t.scenario);
      const value = metric(outcome, "rate");
      if (value === undefined) return statusCell(outcome);
      const reference = metric(
        find(
          outcomes,
          t.ownScenario === undefined ? "mosquitto" : name,
          t.ownScenario ?? t.scenario,
        ),
        "rate",
      );
      if (reference === undefined || !(reference > 0)) return "no reference";
      return `${ratio(value, reference)} ${value / reference >= t.atLeast ? "met" : "**not met**"}`;
    }),
  ]);
  return runtimes.length === 0 || rows.length === 0
    ? ""
    : table(["ratio", "target", ...runtimes], rows);
}

function resourcesTable(outcomes: Outcome[], names: BrokerName[], scenarios: ScenarioId[]): string {
  const rows = scenarios.map((scenario) => [
    scenario,
    ...names.map((name) => {
      const outcome = find(outcomes, name, scenario);
      const r = outcome?.result;
      if (outcome?.status !== "ok" || r === undefined) return statusCell(outcome);
      const cpu = r.brokerCpuPct === undefined ? "?" : `${r.brokerCpuPct.toFixed(0)}%`;
      const rss = r.brokerPeakRssKb === undefined
        ? "?"
        : `${(r.brokerPeakRssKb / 1024).toFixed(0)} MiB`;
      const lg = r.loadgenCpuPct === undefined ? "?" : `${r.loadgenCpuPct.toFixed(0)}%`;
      const other = r.otherCpuPct === undefined ? "?" : `${r.otherCpuPct.toFixed(0)}%`;
      return `${cpu} / ${rss} / ${lg} / ${other}`;
    }),
  ]);
  return table(["scenario", ...names], rows);
}

function firstLine(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: "utf8", timeout: 15_000 });
  return `${out.stdout ?? ""}${out.stderr ?? ""}`.split("\n").find((l) => l.trim() !== "")
    ?.trim() ??
    "unknown";
}

function versions(list: Broker[]): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);
  if (list.some((b) => b.name === "deno")) out.deno = firstLine(bin("deno"), ["--version"]);
  if (list.some((b) => b.name === "bun")) out.bun = firstLine(bin("bun"), ["--version"]);
  if (list.some((b) => b.name === "aedes")) {
    const pkg = JSON.parse(
      readFileSync(join(ROOT, "node_modules", "aedes", "package.json"), "utf8"),
    ) as {
      version: string;
    };
    out.aedes = pkg.version;
  }
  const mosquitto = list.find((b) => b.name === "mosquitto");
  if (mosquitto !== undefined && mosquitto.missing === null) {
    out.mosquitto = firstLine(which("mosquitto") ?? "mosquitto", ["-h"]);
  }
  return out;
}

function machine(): string {
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");
  return `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Linux ${release()}, ` +
    `load average ${load} at start`;
}

interface Report {
  startedAt: string;
  durationSeconds: number;
  mode: "quick" | "full";
  settings: Settings & { payloadBytes: number; latencyRate: number };
  machine: string;
  versions: Record<string, string>;
  mosquittoConfig: string[];
  brokerConfig: string[];
  aedesOptions: string;
  brokerNotes: Partial<Record<BrokerName, string>>;
  outcomes: Outcome[];
}

function markdown(report: Report, names: BrokerName[], scenarios: ScenarioId[]): string {
  const s = report.settings;
  const short = scenarios.some((scenario) => SHORT_SCENARIOS.has(scenario)) &&
      (s.shortWarmupMs !== s.warmupMs || s.shortWindowMs !== s.windowMs)
    ? ` (the 5.0 and shared scenarios: warm-up ${s.shortWarmupMs / 1000} s, window ${
      s.shortWindowMs / 1000
    } s)`
    : "";
  const targets = targetsTable(report.outcomes, names);
  const notes = [
    ...Object.entries(report.brokerNotes).map(([name, note]) => `- ${name}: ${note}`),
    ...report.outcomes
      .filter((o) => o.status !== "ok" && o.note !== undefined)
      .map((o) => `- ${o.broker}, ${o.scenario}: **${o.status}**: ${o.note}`),
  ];
  return [
    `# Benchmark ${report.startedAt}`,
    "",
    `${report.machine}. ${
      Object.entries(report.versions).map(([k, v]) => `${k}: ${v}`).join("; ")
    }.`,
    "",
    `Mode ${report.mode}: warm-up ${s.warmupMs / 1000} s, window ${s.windowMs / 1000} s${short}, ` +
    `${s.payloadBytes}-byte payloads, ${s.idleConnections} idle connections, ` +
    `latency at ${s.latencyRate} msg/s; run took ${report.durationSeconds.toFixed(0)} s.`,
    "",
    resultsTable(report.outcomes, names),
    "",
    "Throughput is messages delivered to subscribers per second. M: ratio to Mosquitto, A: ratio to Aedes " +
    "(this broker's value ÷ theirs, so above 1 is better for rates and worse for latency and memory). " +
    "Shared: distinct messages delivered to the 5 members together per second.",
    "",
    ...(targets === "" ? [] : [
      "Throughput ratios with a target in issue 11 (fan-out's targets are set for Bun):",
      "",
      targets,
      "",
    ]),
    "Broker CPU (percent of one core, over the window) / broker peak RSS / load generator CPU / " +
    "CPU of everything else on the machine (kernel threads, other programs: high values mean a disturbed run):",
    "",
    resourcesTable(report.outcomes, names, scenarios),
    "",
    `This broker's config: \`${report.brokerConfig.join("; ")}\`. ` +
    `Mosquitto config: \`${report.mosquittoConfig.join("; ")}\`. Aedes: ${report.aedesOptions}. ` +
    `In ${
      [...DEFAULT_BOUNDS_SCENARIOS].join(", ")
    } neither broker's bounds are raised: ours runs ` +
    `with only its bind, Mosquitto without \`${MOSQUITTO_BOUNDS.join("; ")}\`.`,
    ...(notes.length > 0 ? ["", "Notes:", "", ...notes] : []),
    "",
  ].join("\n");
}

function progress(startedMs: number, outcome: Outcome): void {
  const r = outcome.result;
  const summary = outcome.status === "ok" && r !== undefined
    ? Object.entries(r.metrics).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
      .join(" ") +
      ` cpu=${r.brokerCpuPct?.toFixed(0)}% lg=${r.loadgenCpuPct?.toFixed(0)}%` +
      ` other=${r.otherCpuPct?.toFixed(0)}%`
    : `${outcome.status}${outcome.note ? `: ${outcome.note}` : ""}`;
  const at = ((Date.now() - startedMs) / 1000).toFixed(0).padStart(4);
  console.error(`[${at}s] ${outcome.scenario.padEnd(8)} ${outcome.broker.padEnd(9)} ${summary}`);
}

function pick<T extends string>(flag: string, value: string | undefined, all: readonly T[]): T[] {
  if (value === undefined) return [...all];
  const chosen = value.split(",").map((v) => v.trim()).filter((v) => v !== "");
  const unknown = chosen.filter((v) => !(all as readonly string[]).includes(v));
  if (unknown.length > 0) {
    throw new Error(`--${flag}: unknown ${unknown.join(", ")}; choose from ${all.join(", ")}`);
  }
  return all.filter((v) => chosen.includes(v));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      brokers: { type: "string" },
      scenarios: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench -- [--quick] [--brokers deno,bun,node,aedes,mosquitto] " +
        `[--scenarios ${SCENARIO_IDS.join(",")}]`,
    );
    return;
  }
  const names = pick("brokers", values.brokers, BROKER_NAMES);
  const scenarios = pick("scenarios", values.scenarios, SCENARIO_IDS)
    .filter((scenario) => values.scenarios !== undefined || !OPT_IN_SCENARIOS.has(scenario));
  const settings = values.quick ? QUICK : FULL;
  const list = brokers().filter((b) => names.includes(b.name));

  const startedMs = Date.now();
  const startedAt = new Date(startedMs).toISOString();
  const brokerNotes: Partial<Record<BrokerName, string>> = {};
  const mqtt5 = scenarios.filter((scenario) => MQTT5_SCENARIOS.has(scenario));
  for (const broker of list) {
    const unasked = broker.noMqtt5 !== null && mqtt5.length > 0
      ? `${broker.noMqtt5}: skipped for ${mqtt5.join(", ")}`
      : null;
    const note = broker.missing ?? [broker.note, unasked].filter((n) => n !== null).join("; ");
    if (note !== "") {
      brokerNotes[broker.name] = note;
      console.error(`${broker.name}: ${note}`);
    }
  }
  const report: Report = {
    startedAt,
    durationSeconds: 0,
    mode: values.quick ? "quick" : "full",
    settings: { ...settings, payloadBytes: 64, latencyRate: 10_000 },
    machine: machine(),
    versions: versions(list),
    mosquittoConfig: ["listener PORT 127.0.0.1", ...MOSQUITTO_SETTINGS],
    brokerConfig: ["bind: 127.0.0.1:PORT", ...OUR_SETTINGS],
    aedesOptions: "Aedes.createBroker() with its defaults, on node:net with noDelay " +
      "(scripts/bench/aedes-server.ts)",
    brokerNotes,
    outcomes: [],
  };

  const noRemote = which("mosquitto") === null
    ? "the bridge's remote is a Mosquitto, which is not installed"
    : null;
  // Scenario by scenario, every broker in turn, so that drift on the machine hits all of them alike.
  for (const scenario of scenarios) {
    for (const broker of list) {
      let outcome: Outcome;
      if (broker.missing !== null) {
        outcome = { broker: broker.name, scenario, status: "skipped", note: broker.missing };
      } else if (broker.noMqtt5 !== null && MQTT5_SCENARIOS.has(scenario)) {
        outcome = { broker: broker.name, scenario, status: "skipped" };
      } else if (scenario === "bridge" && (broker.noBridge ?? noRemote) !== null) {
        outcome = {
          broker: broker.name,
          scenario,
          status: "skipped",
          note: (broker.noBridge ?? noRemote)!,
        };
      } else if (Date.now() - startedMs > settings.budgetMs) {
        outcome = { broker: broker.name, scenario, status: "skipped", note: "time budget used up" };
      } else {
        outcome = await runOne(broker, scenario, settings);
      }
      report.outcomes.push(outcome);
      progress(startedMs, outcome);
    }
  }
  report.durationSeconds = (Date.now() - startedMs) / 1000;

  const text = markdown(report, names, scenarios);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(report, null, 2)}\n`;
  for (const base of ["latest", stamp]) {
    writeFileSync(join(RESULTS_DIR, `${base}.json`), json);
    writeFileSync(join(RESULTS_DIR, `${base}.md`), text);
  }
  console.log(`\n${text}`);
  console.error(`written: bench/results/latest.{json,md}, bench/results/${stamp}.{json,md}`);
}

process.on("exit", cleanUp);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every broker and load generator`);
    cleanUp();
    process.exit(130);
  });
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
} finally {
  cleanUp();
}
