/**
 * The benchmark: this broker on Deno, Bun and Node against Aedes and Mosquitto, on loopback, in one
 * run, as ratios. This driver and the load generator it starts run on Node through tsx.
 *
 *   npm run bench                               everything but idle50k, under 10 minutes
 *   npm run bench -- --quick                    short windows, 1,000 idle connections, ~3 minutes
 *   npm run bench -- --brokers bun,mosquitto    some of: deno bun node aedes mosquitto
 *   npm run bench -- --scenarios fanin,qos1     some of: fanin fanout qos1 latency idle connrate
 *                                               connrate-auth storm storm-auth fanin5 fanout5
 *                                               qos1v5 shared shared5 bridge qos1p fanout1p
 *                                               latencyp qos1d idle50k
 *   npm run bench -- --scenarios fanin,fanout,qos1,cfanin,cfanout,cqos1
 *                                               the cluster ones (not run unless named) beside
 *                                               their single-node pairs
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
 * - connrate: CONNECT, CONNACK, DISCONNECT cycles in sequential batches of 50 at once, per second;
 *   and the broker's CPU time per cycle (all its threads, user and kernel). The load generator
 *   is usually the limit here: loopback runs the TCP handshakes and closes of both ends in the
 *   context of the process that sends, which is mostly the load generator, so the rate is also
 *   a measure of it, and the CPU per cycle the measure of the broker alone; the part of that
 *   in user space is a row of its own
 * - connrate-auth: connrate with every client logging in with a user name and password from a
 *   password file of `$7$` hashes of 10 users: ours made by `broker passwd` (its default
 *   iterations), Mosquitto's by `mosquitto_passwd` (its own), the same users and passwords;
 *   anonymous clients refused. Aedes has no password file and is skipped.
 * - storm, storm-auth: one pair exchanging QoS 0 at 2,000 msg/s while 1,000 clients CONNECT at
 *   once, three times; the pair's round trip p99 during the storms (and before them, calm), and
 *   how many storm clients were refused. storm-auth logs every client in as connrate-auth does.
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
 * - qos1p: qos1 with a persistent subscriber (3.1.1 clean session 0, so that what it is sent is
 *   stored), run four ways: this broker in memory (no `persistence` key), with `persistence:
 *   { path, sync: normal }` and with `sync: full` (a fresh store file in a temporary folder per
 *   run, removed after it), and Mosquitto with `persistence true` and a `persistence_location` in a
 *   temporary folder. Mosquitto writes its snapshot only every `autosave_interval` (left at its
 *   default, 30 minutes) and at exit, so its persistence is not durable per message: it
 *   acknowledges what is only in memory, where this broker's PUBACK waits for the commit.
 * - fanout1p: the same four ways, 10 publishers × 100 QoS 1 in flight on one topic and 20
 *   persistent acking subscribers on it; throughput counts every delivery, `lost` what the
 *   subscribers together are short of 20 × the acknowledged messages
 * - latencyp: latency's pair (QoS 0, clean sessions) while a QoS 1 load runs: 10 publishers at
 *   10,000 msg/s in all (paced, at most 100 in flight each) on bench/load/N into one persistent
 *   subscriber; this broker in memory and with `sync: full`, so that the ratio of the p99s shows
 *   what commits cost the event loop; `loadLost` counts what the load had acknowledged and not
 *   delivered after the drain
 * - cfanin, cfanout, cqos1 (cluster, run only when named in --scenarios): three nodes on this
 *   machine and one `redis-server --save "" --appendonly no` on a free port, started and stopped
 *   for each run: fanin with publishers on nodes 1 and 2 and the subscriber on node 3, fanout
 *   with the publishers on node 1 and the 20 subscribers spread over the three nodes, qos1 with
 *   publishers on nodes 1 and 2 and the subscriber on node 3 (`lost` as in qos1). This broker runs
 *   with a `cluster` key; Aedes with mqemitter-redis and aedes-persistence-redis
 *   (scripts/bench/aedes-cluster-server.ts); Mosquitto has no cluster and sits them out. Publishers
 *   start 500 ms after the subscriptions were granted, for the filters to reach the other nodes.
 *   Broker CPU and peak RSS are those of the three nodes and redis-server together. The single
 *   node figures are fanin, fanout and qos1 of the same run ("1n" ratios).
 * Aedes, which keeps nothing on disk without Redis or MongoDB, sits the persistence scenarios out,
 * and so does Mosquitto latencyp. The report gives them a table of their own, a row per figure and
 * way of running (ratios to the same runtime in memory and to Mosquitto), and says where the stores
 * were: on tmpfs fsync costs nothing and `sync: full` is not measured (set TMPDIR to a disk).
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
 * The scenarios from fanin5 on run last, with a shorter window (1.5 s after 0.5 s, but 3 s for
 * qos1p and fanout1p, whose ratios to in memory are targets; the --quick ones with --quick), so
 * that the whole run stays under 10 minutes. Aedes does not speak 5.0 and is skipped for the 5.0
 * ones; a broker that refuses 5.0 (CONNACK return code 1 or reason 0x84) or shared subscriptions
 * (SUBACK 0x80 or 0x9e, or a granted shared filter that delivers nothing) is reported as
 * "unsupported" for that scenario and the run goes on.
 *
 * For each scenario each broker in turn (in the persistence scenarios each way of running it, one
 * runtime's ways one after another, so that drift disturbs their ratios least) gets a fresh
 * process on a free 127.0.0.1 port, and a fresh load generator (scripts/bench/loadgen.ts) in a
 * separate process drives it and reads the broker's CPU time and memory from /proc. A broker that exits, or refuses connections, mid-run is reported
 * as crashed and the run goes on. The report also gives broker CPU and peak RSS, the load
 * generator's CPU (near 100% means it, not the broker, was the limit) and the CPU used by
 * everything else on the machine. TARGETS are the ratios issues 11, 12 and 13 set, checked per
 * runtime.
 * Results go to bench/results/latest.{json,md} and a timestamped copy (not committed).
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
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
import { connect } from "node:net";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import {
  AUTH_SCENARIOS,
  BENCH_USERS,
  benchCredentials,
  DEFAULT_BOUNDS_SCENARIOS,
  type Job,
  type LoadResult,
  MQTT5_SCENARIOS,
  OPT_IN_SCENARIOS,
  RESULT_PREFIX,
  SCENARIO_IDS,
  type ScenarioId,
} from "./bench/shared.ts";
import { fileSystemType } from "./bench/procfs.ts";
import { freePort } from "./bench/ports.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const RESULTS_DIR = join(ROOT, "bench", "results");
const HOST = "127.0.0.1";

const BROKER_NAMES = ["deno", "bun", "node", "aedes", "mosquitto"] as const;
type BrokerName = (typeof BROKER_NAMES)[number];

/** The latency scenarios' QoS 0 pair, in messages per second. */
const LATENCY_RATE = 10_000;
/** latencyp's QoS 1 load beside that pair, in messages per second over its 10 publishers. */
const LOAD_RATE = 10_000;

/**
 * The same bounds for this broker as Mosquitto gets below (its defaults, 20 in flight and 1,000
 * queued, would drop QoS 1 messages under the qos1 load just as Mosquitto's do).
 */
const OUR_SETTINGS = [
  "max-inflight-messages: 1000",
  "max-queued-messages: 1000000",
  "max-queued-bytes: 0",
];

/**
 * Mosquitto's defaults (20 in flight, 1,000 queued) would make it drop QoS 1 messages under the qos1
 * load, and so did 100,000 queued; logging every connection would slow the connection scenarios.
 * Nagle's algorithm stays on, as by default: with `set_tcp_nodelay true` Mosquitto sends one TCP
 * segment per message and delivered half as many QoS 0 messages here, for the same p50 latency.
 * The bounds are raised only outside the default-bounds scenarios.
 */
const MOSQUITTO_BASE = [
  "allow_anonymous true",
  "connection_messages false",
  "log_type error",
  "log_type warning",
  "log_dest stderr",
];

const MOSQUITTO_BOUNDS = ["max_inflight_messages 1000", "max_queued_messages 1000000"];

const MOSQUITTO_SETTINGS = [...MOSQUITTO_BASE, ...MOSQUITTO_BOUNDS];

/**
 * How a broker keeps its state in a persistence scenario: this broker in memory (no `persistence`
 * key) or with a store at either `sync`; Mosquitto with `persistence true`, which holds everything
 * in memory and writes a snapshot only on autosave or at exit.
 */
type Persistence = "memory" | "normal" | "full" | "snapshot";

/** What each persistence scenario runs this broker with; Mosquitto runs with `snapshot` or not at all. */
const OUR_VARIANTS: Partial<Record<ScenarioId, readonly Persistence[]>> = {
  qos1p: ["memory", "normal", "full"],
  fanout1p: ["memory", "normal", "full"],
  latencyp: ["memory", "full"],
};

/** latencyp compares this broker with and without a store; Mosquitto is not asked. */
const MOSQUITTO_VARIANTS: Partial<Record<ScenarioId, readonly Persistence[]>> = {
  qos1p: ["snapshot"],
  fanout1p: ["snapshot"],
};

const PERSISTENCE_LABELS: Record<Persistence, string> = {
  memory: "in memory",
  normal: "sync: normal",
  full: "sync: full",
  snapshot: "Mosquitto persistence true",
};

interface Settings {
  warmupMs: number;
  windowMs: number;
  /** Warm-up and window of the {@link SHORT_SCENARIOS}. */
  shortWarmupMs: number;
  shortWindowMs: number;
  /**
   * The window of the {@link STORE_RATIO_SCENARIOS}, after the short warm-up: their ratios to in
   * memory are targets, and over the short window they swung by more than the changes measured.
   */
  storeWindowMs: number;
  drainMs: number;
  idleConnections: number;
  /** No run starts after this long; the last one to start ends well within 10 minutes. */
  budgetMs: number;
}

/**
 * The scenarios of a cluster of {@link CLUSTER_NODES} nodes over Redis; run only when named, as
 * they would take the whole run past its bound.
 */
const CLUSTER_SCENARIOS: ReadonlySet<ScenarioId> = new Set(["cfanin", "cfanout", "cqos1"]);
const CLUSTER_NODES = 3;
/** How long publishers wait after the subscriptions, for the filters to reach the other nodes. */
const CLUSTER_SETTLE_MS = 500;

/** Which nodes (by index) the publishers and the subscribers of a cluster scenario connect to. */
const CLUSTER_LAYOUT: Partial<Record<ScenarioId, { publish: number[]; subscribe: number[] }>> = {
  cfanin: { publish: [0, 1], subscribe: [2] },
  cfanout: { publish: [0], subscribe: [0, 1, 2] },
  cqos1: { publish: [0, 1], subscribe: [2] },
};

/** The scenarios added after the first ones, measured over shorter windows to keep the run bounded. */
const SHORT_SCENARIOS: ReadonlySet<ScenarioId> = new Set([
  ...MQTT5_SCENARIOS,
  "shared",
  "bridge",
  ...(Object.keys(OUR_VARIANTS) as ScenarioId[]),
]);

/** The persistence scenarios whose throughput ratios are targets. */
const STORE_RATIO_SCENARIOS: ReadonlySet<ScenarioId> = new Set(["qos1p", "fanout1p"]);

const FULL: Settings = {
  warmupMs: 1000,
  windowMs: 5000,
  shortWarmupMs: 500,
  shortWindowMs: 1500,
  storeWindowMs: 3000,
  drainMs: 3000,
  idleConnections: 5000,
  budgetMs: 560_000,
};
const QUICK: Settings = {
  warmupMs: 400,
  windowMs: 800,
  shortWarmupMs: 400,
  shortWindowMs: 800,
  storeWindowMs: 800,
  drainMs: 1000,
  idleConnections: 1000,
  budgetMs: 210_000,
};

function windows(settings: Settings, scenario: ScenarioId): { warmupMs: number; windowMs: number } {
  if (STORE_RATIO_SCENARIOS.has(scenario)) {
    return { warmupMs: settings.shortWarmupMs, windowMs: settings.storeWindowMs };
  }
  return SHORT_SCENARIOS.has(scenario)
    ? { warmupMs: settings.shortWarmupMs, windowMs: settings.shortWindowMs }
    : { warmupMs: settings.warmupMs, windowMs: settings.windowMs };
}

interface Launch {
  command: string;
  args: string[];
  /** The temporary folder of its configuration (and store), removed once it has stopped. */
  dir?: string;
}

interface LaunchOptions {
  /** Bridging `bench/#` out to the broker on this port. */
  remotePort?: number;
  /** Absent: as in the scenarios without persistence. */
  persistence?: Persistence;
  /** Admitting only the users of these password files. */
  passwords?: PasswordFiles;
  /** No bounds raised (in flight, queued), as a user who changes nothing runs it. */
  defaults?: boolean;
  /** A node of a cluster over the redis-server on this port. */
  cluster?: { redisPort: number; node: string };
}

interface Broker {
  name: BrokerName;
  /** Why the broker cannot run here, or null. */
  missing: string | null;
  /** Why the broker is not asked to speak MQTT 5.0, or null. */
  noMqtt5: string | null;
  /** Why the broker cannot bridge out, or null. */
  noBridge: string | null;
  /** Why the broker is not run in the persistence scenarios, or null. */
  noPersistence: string | null;
  /** Why the broker cannot check passwords from a file, or null. */
  noAuth: string | null;
  /** Why the broker is not run in the cluster scenarios, or null. */
  noCluster: string | null;
  /** Said in the report, e.g. how Node was started. */
  note: string | null;
  launch(port: number, options?: LaunchOptions): Launch;
}

/** The bench users' password files, one per format, made from the same users and passwords. */
interface PasswordFiles {
  ours: string;
  mosquitto: string;
}

type Status = "ok" | "crashed" | "error" | "unsupported" | "skipped";

interface Outcome {
  broker: BrokerName;
  scenario: ScenarioId;
  /** Only in the persistence scenarios. */
  persistence?: Persistence;
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
  /** The single-node scenario of the same load, for a cluster scenario's "1n" ratio. */
  single?: ScenarioId;
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
    scenario: "connrate",
    key: "cpuUsPerConn",
    label: "broker CPU per CONNECT cycle",
    unit: "µs",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "connrate",
    key: "userUsPerConn",
    label: "the same in user space (the rest is kernel time)",
    unit: "µs",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "connrate-auth",
    key: "rate",
    label: "connection rate with a $7$ password file",
    unit: "conn/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "connrate-auth",
    key: "cpuUsPerConn",
    label: "broker CPU per CONNECT cycle with $7$",
    unit: "µs",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "storm",
    key: "p99Ms",
    label: "QoS 0 p99 of a connected pair while 1,000 CONNECT",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "storm",
    key: "endP99Ms",
    label: "the same while the 1,000 DISCONNECT",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "storm-auth",
    key: "p99Ms",
    label: "the same, the 1,000 logging in with $7$",
    unit: "ms",
    better: "lower",
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
    scenario: "cfanin",
    key: "rate",
    label: "cluster fan-in QoS 0: 10 pub on nodes 1, 2 → 1 sub on node 3",
    unit: "msg/s",
    better: "higher",
    ratios: true,
    single: "fanin",
  },
  {
    scenario: "cfanout",
    key: "rate",
    label: "cluster fan-out QoS 0: 10 pub on node 1 → 20 sub on nodes 1-3",
    unit: "msg/s",
    better: "higher",
    ratios: true,
    single: "fanout",
  },
  {
    scenario: "cqos1",
    key: "rate",
    label: "cluster QoS 1: 10 pub × 100 in flight on nodes 1, 2 → 1 sub on node 3",
    unit: "msg/s",
    better: "higher",
    ratios: true,
    single: "qos1",
  },
  {
    scenario: "cqos1",
    key: "lost",
    label: "cluster QoS 1: acknowledged but never delivered",
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

/** The rows of the persistence table, each once per {@link Persistence} the scenario ran with. */
const PERSISTENCE_ROWS: Row[] = [
  {
    scenario: "qos1p",
    key: "rate",
    label: "QoS 1: 10 pub → 1 persistent sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "qos1p",
    key: "lost",
    label: "QoS 1 → 1 persistent sub: acked, never delivered",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "fanout1p",
    key: "rate",
    label: "QoS 1 fan-out: 10 pub → 20 persistent sub",
    unit: "msg/s",
    better: "higher",
    ratios: true,
  },
  {
    scenario: "fanout1p",
    key: "lost",
    label: "QoS 1 fan-out: acked, never delivered (sum of 20 subs)",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
  {
    scenario: "latencyp",
    key: "p50Ms",
    label: "latency p50 at 10k msg/s beside a QoS 1 load",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "latencyp",
    key: "p99Ms",
    label: "latency p99 at 10k msg/s beside a QoS 1 load",
    unit: "ms",
    better: "lower",
    ratios: true,
  },
  {
    scenario: "latencyp",
    key: "loadLost",
    label: "that QoS 1 load: acked, never delivered",
    unit: "msgs",
    better: "lower",
    ratios: false,
  },
];

/** A ratio issue 11 or 12 sets a target for, per runtime of this broker. */
interface Target {
  label: string;
  scenario: ScenarioId;
  /** The figure compared; `rate` unless said. */
  key?: string;
  /** How this broker ran `scenario`, in a persistence scenario. */
  persistence?: Persistence;
  /** Divided by this broker's own figure there, or else by `against`'s in `scenario`. */
  own?: { scenario: ScenarioId; persistence?: Persistence };
  /** The broker whose figure in `scenario` divides this one's; Mosquitto unless said. */
  against?: BrokerName;
  /** The figure itself is bound, not a ratio; `against`'s is shown beside it. */
  absolute?: boolean;
  /** What the ratio must reach, or (for a latency) stay within. */
  bound: { atLeast: number } | { atMost: number };
}

/** The targets issue 12 sets for each throughput scenario with persistent subscribers. */
function persistenceTargets(scenario: ScenarioId, name: string): Target[] {
  const memory = { scenario, persistence: "memory" as const };
  return [
    {
      label: `${name}, sync: normal ÷ in memory`,
      scenario,
      persistence: "normal",
      own: memory,
      bound: { atLeast: 0.5 },
    },
    {
      label: `${name}, sync: normal ÷ Mosquitto persistence true`,
      scenario,
      persistence: "normal",
      bound: { atLeast: 1 },
    },
    {
      label: `${name}, sync: full ÷ in memory`,
      scenario,
      persistence: "full",
      own: memory,
      bound: { atLeast: 0.25 },
    },
  ];
}

const TARGETS: Target[] = [
  {
    label: "5.0 fan-out ÷ this broker's 3.1.1 fan-out",
    scenario: "fanout5",
    own: { scenario: "fanout" },
    bound: { atLeast: 0.8 },
  },
  { label: "5.0 fan-out ÷ Mosquitto 5.0 fan-out", scenario: "fanout5", bound: { atLeast: 5 } },
  { label: "5.0 shared ÷ Mosquitto 5.0 shared", scenario: "shared5", bound: { atLeast: 2 } },
  { label: "3.1.1 shared ÷ Mosquitto 3.1.1 shared", scenario: "shared", bound: { atLeast: 2 } },
  ...persistenceTargets("qos1p", "QoS 1 → 1 persistent sub"),
  ...persistenceTargets("fanout1p", "QoS 1 fan-out → 20 persistent sub"),
  {
    label: "cluster fan-in QoS 0 ÷ Aedes cluster (mqemitter-redis)",
    scenario: "cfanin",
    against: "aedes",
    bound: { atLeast: 3 },
  },
  {
    label: "cluster fan-out QoS 0 ÷ Aedes cluster (mqemitter-redis)",
    scenario: "cfanout",
    against: "aedes",
    bound: { atLeast: 3 },
  },
  {
    label: "cluster QoS 1: acknowledged, never delivered (Aedes cluster's beside it)",
    scenario: "cqos1",
    key: "lost",
    against: "aedes",
    absolute: true,
    bound: { atMost: 0 },
  },
  {
    label: "latency p99 beside a QoS 1 load, sync: full ÷ in memory",
    scenario: "latencyp",
    key: "p99Ms",
    persistence: "full",
    own: { scenario: "latencyp", persistence: "memory" },
    bound: { atMost: 2 },
  },
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

/** File systems without a disk under them, where a store's fsync returns at once. */
const MEMORY_FILE_SYSTEMS: ReadonlySet<string> = new Set(["tmpfs", "ramfs"]);

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

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Removes a run's folder (a store can be hundreds of MiB) as soon as its process has stopped. */
function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function brokers(): Broker[] {
  const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);
  const cli = join(ROOT, "src", "cli.ts");
  const noCli = existsSync(cli) ? null : "src/cli.ts does not exist yet";
  /** Our broker's config file for a run, and the arguments that name it. */
  const ours = (port: number, options: LaunchOptions): { dir: string; args: string[] } => {
    const dir = tempDir("bench-broker-");
    const config = join(dir, "broker.yaml");
    const bind = [`listeners:`, `  default:`, `    bind: ${HOST}:${port}`];
    const bridge = options.remotePort === undefined ? [] : [
      "bridges:",
      "  bench:",
      `    address: mqtt://${HOST}:${options.remotePort}`,
      "    protocol: 4",
      '    topics: [{ pattern: "bench/#", qos: 1 }]',
      "    max-queued-messages: 1000000",
    ];
    const sync = options.persistence;
    const store = sync === "normal" || sync === "full"
      ? ["persistence:", `  path: ${join(dir, "broker.db")}`, `  sync: ${sync}`]
      : [];
    const auth = options.passwords === undefined
      ? []
      : ["auth:", `  password-file: ${options.passwords.ours}`, "  allow-anonymous: false"];
    const bounds = options.defaults ? [] : OUR_SETTINGS;
    const cluster = options.cluster === undefined ? [] : [
      "cluster:",
      `  redis: redis://${HOST}:${options.cluster.redisPort}`,
      `  node: ${options.cluster.node}`,
    ];
    writeFileSync(
      config,
      [...bind, ...bounds, ...bridge, ...store, ...auth, ...cluster, ""].join("\n"),
    );
    return { dir, args: ["-c", config] };
  };
  const dist = join(ROOT, "dist", "cli.js");
  let nodeNote: string | null = null;
  if (!existsSync(dist)) {
    nodeNote = "dist/cli.js missing (run `npm run build`): Node ran `node --import tsx src/cli.ts`";
  } else if (noCli === null && statSync(dist).mtimeMs < newestMtime(join(ROOT, "src"))) {
    nodeNote = "dist/cli.js is older than src/: run `npm run build` to measure the current code";
  }
  /** This broker on one runtime: `command` with `argsOf` the config's arguments. */
  const ourRuntime = (
    name: BrokerName,
    command: string,
    argsOf: (args: string[]) => string[],
    note: string | null,
  ): Broker => ({
    name,
    missing: noCli,
    noMqtt5: null,
    note,
    noBridge: null,
    noAuth: null,
    noPersistence: null,
    noCluster: null,
    launch: (port, options = {}) => {
      const { dir, args } = ours(port, options);
      return { command, args: argsOf(args), dir };
    },
  });
  const mosquitto = which("mosquitto");
  return [
    ourRuntime("deno", bin("deno"), (args) => ["run", "-A", cli, ...args], null),
    ourRuntime("bun", bin("bun"), (args) => [cli, ...args], null),
    ourRuntime(
      "node",
      process.execPath,
      (args) => existsSync(dist) ? [dist, ...args] : ["--import", "tsx", cli, ...args],
      nodeNote,
    ),
    {
      name: "aedes",
      missing: null,
      noMqtt5: "Aedes does not speak MQTT 5.0",
      noBridge: "Aedes has no outgoing bridge",
      noPersistence: "Aedes keeps nothing on disk without Redis or MongoDB",
      noAuth: "Aedes has no password file",
      noCluster: null,
      note: null,
      launch: (port, options = {}) => ({
        command: process.execPath,
        args: [
          "--import",
          "tsx",
          join(
            ROOT,
            "scripts",
            "bench",
            options.cluster ? "aedes-cluster-server.ts" : "aedes-server.ts",
          ),
          "--port",
          String(port),
          ...(options.cluster ? ["--redis-port", String(options.cluster.redisPort)] : []),
        ],
      }),
    },
    {
      name: "mosquitto",
      missing: mosquitto === null ? "mosquitto is not installed (apt-get install mosquitto)" : null,
      noMqtt5: null,
      note: null,
      noBridge: null,
      noPersistence: null,
      noAuth: which("mosquitto_passwd") === null
        ? "mosquitto_passwd is not installed, so there is no password file for Mosquitto"
        : null,
      noCluster: "Mosquitto has no cluster",
      launch: (port, options = {}) => {
        const dir = tempDir("bench-mosquitto-");
        const config = join(dir, "mosquitto.conf");
        const bridge = options.remotePort === undefined ? [] : [
          "connection bench",
          `address ${HOST}:${options.remotePort}`,
          "topic bench/# out 1",
          "bridge_protocol_version mqttv311",
          "cleansession false",
        ];
        // Mosquitto wants the folder with its trailing slash.
        const snapshot = options.persistence === "snapshot"
          ? ["persistence true", `persistence_location ${dir}/`]
          : [];
        const passwords = options.passwords;
        const base = options.defaults ? MOSQUITTO_BASE : MOSQUITTO_SETTINGS;
        const settings = passwords === undefined ? base : [
          ...base.filter((line) => !line.startsWith("allow_anonymous")),
          "allow_anonymous false",
          `password_file ${passwords.mosquitto}`,
        ];
        writeFileSync(
          config,
          [`listener ${port} ${HOST}`, ...settings, ...bridge, ...snapshot, ""].join("\n"),
        );
        return { command: mosquitto ?? "mosquitto", args: ["-c", config], dir };
      },
    },
  ];
}

/**
 * The bench users' password files: ours written by `broker passwd` (on Bun, which starts
 * fastest), Mosquitto's by `mosquitto_passwd`, each with its own defaults.
 */
function makePasswordFiles(): PasswordFiles {
  const dir = mkdtempSync(join(tmpdir(), "bench-passwd-"));
  tempDirs.add(dir);
  const files = { ours: join(dir, "ours.passwd"), mosquitto: join(dir, "mosquitto.passwd") };
  const run = (command: string, args: string[]): void => {
    const result = spawnSync(command, args, { cwd: ROOT, encoding: "utf8" });
    if (result.status !== 0) {
      throw new Error(`${command} ${args.join(" ")}: ${result.stderr || result.error?.message}`);
    }
  };
  const bun = join(ROOT, "node_modules", ".bin", "bun");
  const cli = join(ROOT, "src", "cli.ts");
  const mosquittoPasswd = which("mosquitto_passwd");
  for (let i = 0; i < BENCH_USERS; i++) {
    const { username, password } = benchCredentials(i);
    const create = i === 0 ? ["-c"] : [];
    run(bun, [cli, "passwd", ...create, "-b", files.ours, username, password]);
    if (mosquittoPasswd !== null) {
      run(mosquittoPasswd, [...create, "-b", files.mosquitto, username, password]);
    }
  }
  // Mosquitto started as root reads its password file as the user it drops to.
  chmodSync(dir, 0o755);
  if (mosquittoPasswd !== null) chmodSync(files.mosquitto, 0o644);
  return files;
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
  const drains = ["qos1", "qos1v5", "qos1d", "qos1p", "fanout1p", "latencyp", "cqos1"].includes(
    scenario,
  );
  return warmupMs + windowMs + (drains ? settings.drainMs : 0) +
    (scenario === "idle50k"
      ? 240_000
      : scenario === "idle" || scenario.startsWith("storm")
      ? 30_000
      : 15_000);
}

/**
 * How `broker` runs `scenario`: once as configured outside the persistence scenarios (and when it
 * is missing, to say so); in them once per way of persisting it has, and not at all without one
 * (the report's notes say why).
 */
function ways(broker: Broker, scenario: ScenarioId): (Persistence | undefined)[] {
  const ours = OUR_VARIANTS[scenario];
  if (ours === undefined || broker.missing !== null) return [undefined];
  if (broker.noPersistence !== null) return [];
  return [...(broker.name === "mosquitto" ? MOSQUITTO_VARIANTS[scenario] ?? [] : ours)];
}

/** The redis-server of a cluster scenario, nothing saved, on `port`. */
function redisLaunch(port: number): Launch {
  return {
    command: which("redis-server") ?? "redis-server",
    args: ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
  };
}

async function runOne(
  broker: Broker,
  scenario: ScenarioId,
  settings: Settings,
  persistence: Persistence | undefined,
  passwords: PasswordFiles | undefined,
): Promise<Outcome> {
  const base = { broker: broker.name, scenario, ...(persistence !== undefined && { persistence }) };
  const layout = CLUSTER_LAYOUT[scenario];
  const ports = await Promise.all(
    Array.from({ length: layout === undefined ? 1 : CLUSTER_NODES }, () => freePort()),
  );
  const port = ports[0];
  // The bridge scenario's remote: a Mosquitto of its own, whichever broker bridges to it.
  const remotePort = scenario === "bridge" ? await freePort() : undefined;
  const remoteLaunch = remotePort === undefined
    ? undefined
    : brokers().find((b) => b.name === "mosquitto")!.launch(remotePort);
  const remote = remoteLaunch === undefined ? undefined : start(remoteLaunch);
  const redisPort = layout === undefined ? undefined : await freePort();
  const redis = redisPort === undefined ? undefined : start(redisLaunch(redisPort));
  const loadgen = startLoadgen();
  const auth = AUTH_SCENARIOS.has(scenario) ? passwords : undefined;
  const defaults = DEFAULT_BOUNDS_SCENARIOS.has(scenario);
  const launches: Launch[] = [];
  const nodes: Running[] = [];
  try {
    try {
      if (remote !== undefined) await waitUntilAccepting(remotePort!, remote, 30_000);
      if (redis !== undefined) await waitUntilAccepting(redisPort!, redis, 30_000);
      for (const [i, p] of ports.entries()) {
        const cluster = redisPort === undefined ? undefined : { redisPort, node: `bench-${i + 1}` };
        launches.push(
          broker.launch(p, { remotePort, persistence, passwords: auth, defaults, cluster }),
        );
        nodes.push(start(launches[i]));
      }
      for (const [i, p] of ports.entries()) await waitUntilAccepting(p, nodes[i], 30_000);
    } catch (error) {
      return {
        ...base,
        status: "error",
        note: error instanceof Error ? error.message : String(error),
      };
    }
    const running = nodes[0];
    // Give a runtime a moment to finish start-up work before the idle RSS baseline is taken.
    if (scenario === "idle") await sleep(200);
    const result = await runLoadgen(loadgen, {
      scenario,
      port,
      subscribePorts: layout?.subscribe.map((i) => ports[i]) ??
        (remotePort === undefined ? undefined : [remotePort]),
      publishPorts: layout?.publish.map((i) => ports[i]),
      brokerPid: running.child.pid ?? 0,
      peerPids: layout === undefined
        ? undefined
        : [...nodes.slice(1), redis!].map((r) => r.child.pid ?? 0),
      settleMs: layout === undefined ? undefined : CLUSTER_SETTLE_MS,
      ...windows(settings, scenario),
      drainMs: settings.drainMs,
      idleConnections: scenario === "idle50k" ? idle50kConnections() : settings.idleConnections,
      payloadBytes: 64,
      latencyRate: LATENCY_RATE,
      loadRate: LOAD_RATE,
      deadlineMs: deadline(settings, scenario),
    });
    // All clients leaving at once is part of the test (Aedes 1.2 overflows its stack then), and a
    // crash that made the load generator fail may be reported a little after it.
    await within(running.exited, result.status === "failed" ? 1000 : 700);
    const dead = [...nodes, ...(redis === undefined ? [] : [redis])].find((n) =>
      hasExited(n.child)
    );
    if (dead !== undefined || result.brokerDown === true) {
      const when = result.status === "ok" ? "after the window, as its clients went away: " : "";
      const which = dead === undefined || nodes.length === 1
        ? ""
        : dead === redis
        ? "redis-server "
        : `node ${nodes.indexOf(dead) + 1} `;
      const why = dead !== undefined
        ? `${which}${describeExit(dead.child)}: ${lastError(dead.tail())}`
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
    await Promise.all([...nodes.map(stop), stop(loadgen.running)]);
    if (remote !== undefined) await stop(remote);
    if (redis !== undefined) await stop(redis);
    for (const dir of [...launches.map((l) => l.dir), remoteLaunch?.dir]) {
      if (dir !== undefined) removeTempDir(dir);
    }
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

function find(
  outcomes: Outcome[],
  broker: BrokerName,
  scenario: ScenarioId,
  persistence?: Persistence,
): Outcome | undefined {
  return outcomes.find((o) =>
    o.broker === broker && o.scenario === scenario && o.persistence === persistence
  );
}

/** Mosquitto's one way of running `scenario`: with `persistence true` in a persistence scenario. */
function mosquittoVariant(scenario: ScenarioId): Persistence | undefined {
  return MOSQUITTO_VARIANTS[scenario]?.[0];
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

/** A figure that may be compared, e.g. Mosquitto's, with the letters that name it in a cell. */
interface Reference {
  value: number | undefined;
  tag: string;
}

/** A cell: the value, and its ratio to each reference that applies, or what became of the run. */
function valueCell(outcome: Outcome | undefined, row: Row, references: Reference[]): string {
  const value = metric(outcome, row.key);
  if (value === undefined) return statusCell(outcome, row);
  const parts = row.ratios
    ? references.map((r) => {
      const against = ratio(value, r.value);
      return against === null ? null : `${against} ${r.tag}`;
    }).filter((p) => p !== null)
    : [];
  return `${formatValue(value, row.unit)}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
}

function rowLabel(row: Row, persistence?: Persistence): string {
  const how = persistence === undefined ? "" : `, ${PERSISTENCE_LABELS[persistence]}`;
  return `${row.label}${how} (${row.unit}, ${row.better} is better)`;
}

function resultsTable(outcomes: Outcome[], names: BrokerName[]): string {
  const rows = ROWS.filter((row) => outcomes.some((o) => o.scenario === row.scenario)).map(
    (row) => {
      const mosquitto = metric(find(outcomes, "mosquitto", row.scenario), row.key);
      const aedes = metric(find(outcomes, "aedes", row.scenario), row.key);
      const cells = names.map((name) =>
        valueCell(find(outcomes, name, row.scenario), row, [
          { value: name !== "mosquitto" ? mosquitto : undefined, tag: "M" },
          { value: name !== "aedes" && name !== "mosquitto" ? aedes : undefined, tag: "A" },
          {
            value: row.single === undefined
              ? undefined
              : metric(find(outcomes, name, row.single), row.key),
            tag: "1n",
          },
        ])
      );
      return [rowLabel(row), ...cells];
    },
  );
  return rows.length === 0 ? "" : table(["scenario", ...names], rows);
}

/**
 * A row per figure and way of running it, a column per runtime and Mosquitto: a store's cost shows
 * as its ratio to the same runtime in memory ("mem"), and Mosquitto's persistence as "M". Counts
 * without ratios (messages lost), mostly 0, take one row for all ways, their values side by side.
 */
function persistenceTable(outcomes: Outcome[], names: BrokerName[]): string {
  const columns = names.filter((name) => name !== "aedes");
  const rows: string[][] = [];
  for (const row of PERSISTENCE_ROWS) {
    const ran = (Object.keys(PERSISTENCE_LABELS) as Persistence[]).filter((persistence) =>
      outcomes.some((o) => o.scenario === row.scenario && o.persistence === persistence)
    );
    if (ran.length === 0) continue;
    if (!row.ratios) {
      const cells = columns.map((name) =>
        ran.map((persistence) => find(outcomes, name, row.scenario, persistence))
          .filter((outcome) => outcome !== undefined)
          .map((outcome) => valueCell(outcome, row, []))
          .join(" / ")
      );
      const ways = ran.map((persistence) => PERSISTENCE_LABELS[persistence]).join(" / ");
      rows.push([`${row.label} (${ways}; ${row.unit}, ${row.better} is better)`, ...cells]);
      continue;
    }
    const mosquitto = metric(
      find(outcomes, "mosquitto", row.scenario, mosquittoVariant(row.scenario)),
      row.key,
    );
    for (const persistence of ran) {
      const stored = persistence === "normal" || persistence === "full";
      const cells = columns.map((name) =>
        valueCell(find(outcomes, name, row.scenario, persistence), row, [
          {
            value: stored
              ? metric(find(outcomes, name, row.scenario, "memory"), row.key)
              : undefined,
            tag: "mem",
          },
          { value: name !== "mosquitto" ? mosquitto : undefined, tag: "M" },
        ])
      );
      rows.push([rowLabel(row, persistence), ...cells]);
    }
  }
  return rows.length === 0 ? "" : table(["persistence scenario", ...columns], rows);
}

function targetsTable(outcomes: Outcome[], names: BrokerName[]): string {
  const runtimes = RUNTIMES.filter((name) => names.includes(name));
  const rows = TARGETS.filter((t) => outcomes.some((o) => o.scenario === t.scenario)).map((t) => [
    t.label,
    "atLeast" in t.bound ? `≥ ${t.bound.atLeast}` : `≤ ${t.bound.atMost}`,
    ...runtimes.map((name) => {
      const key = t.key ?? "rate";
      const outcome = find(outcomes, name, t.scenario, t.persistence);
      const value = metric(outcome, key);
      if (value === undefined) return statusCell(outcome);
      const against = t.against ?? "mosquitto";
      const reference = metric(
        t.own === undefined
          ? find(outcomes, against, t.scenario, mosquittoVariant(t.scenario))
          : find(outcomes, name, t.own.scenario, t.own.persistence),
        key,
      );
      if (t.absolute === true) {
        const met = "atLeast" in t.bound ? value >= t.bound.atLeast : value <= t.bound.atMost;
        const beside = reference === undefined
          ? ""
          : ` (${against}: ${formatValue(reference, "")})`;
        return `${formatValue(value, "")} ${met ? "met" : "**not met**"}${beside}`;
      }
      if (reference === undefined || !(reference > 0)) return "no reference";
      const r = value / reference;
      const met = "atLeast" in t.bound ? r >= t.bound.atLeast : r <= t.bound.atMost;
      return `${ratio(value, reference)} ${met ? "met" : "**not met**"}`;
    }),
  ]);
  return runtimes.length === 0 || rows.length === 0
    ? ""
    : table(["ratio", "target", ...runtimes], rows);
}

function resourcesTable(outcomes: Outcome[], names: BrokerName[], scenarios: ScenarioId[]): string {
  const ways = [undefined, ...Object.keys(PERSISTENCE_LABELS) as Persistence[]];
  const runs = scenarios.flatMap((scenario) =>
    ways.filter((persistence) =>
      outcomes.some((o) => o.scenario === scenario && o.persistence === persistence)
    ).map((persistence) => ({ scenario, persistence }))
  );
  const rows = runs.map(({ scenario, persistence }) => [
    persistence === undefined ? scenario : `${scenario}, ${PERSISTENCE_LABELS[persistence]}`,
    ...names.map((name) => {
      const outcome = find(outcomes, name, scenario, persistence);
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
  settings: Settings & { payloadBytes: number; latencyRate: number; loadRate: number };
  machine: string;
  versions: Record<string, string>;
  mosquittoConfig: string[];
  brokerConfig: string[];
  /** What the persistence scenarios add to each configuration. */
  persistenceConfig: { broker: string; mosquitto: string };
  /** Where the stores go (the system's temporary folder) and its file system type. */
  storeFolder: { path: string; type: string };
  aedesOptions: string;
  brokerNotes: Partial<Record<BrokerName, string>>;
  outcomes: Outcome[];
}

function markdown(report: Report, names: BrokerName[], scenarios: ScenarioId[]): string {
  const s = report.settings;
  const short = scenarios.some((scenario) => SHORT_SCENARIOS.has(scenario)) &&
      (s.shortWarmupMs !== s.warmupMs || s.shortWindowMs !== s.windowMs)
    ? ` (the 5.0, shared, bridge and persistence scenarios: warm-up ${
      s.shortWarmupMs / 1000
    } s, window ${s.shortWindowMs / 1000} s; qos1p and fanout1p ${s.storeWindowMs / 1000} s)`
    : "";
  const targets = targetsTable(report.outcomes, names);
  const persistence = persistenceTable(report.outcomes, names);
  const results = resultsTable(report.outcomes, names);
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
    ...(results === "" ? [] : [
      results,
      "",
      "Throughput is messages delivered to subscribers per second. M: ratio to Mosquitto, A: ratio to Aedes " +
      "(in the cluster rows: to Aedes' cluster), 1n: a cluster's ratio to the same runtime's single node " +
      "(this broker's value ÷ theirs, so above 1 is better for rates and worse for latency and memory). " +
      "Shared: distinct messages delivered to the 5 members together per second.",
      "",
    ]),
    ...(persistence === "" ? [] : [
      "With persistent subscribers (3.1.1, clean session 0; publishers keep 100 QoS 1 messages " +
      "in flight each, as in qos1), this broker without a store, with " +
      "one at each `sync`, and Mosquitto with `persistence true` (a snapshot on autosave and at " +
      "exit: nothing is on disk when it acknowledges). mem: ratio to the same runtime in memory. " +
      `latencyp's QoS 1 load: ${s.loadRate} msg/s into one persistent subscriber. ` +
      `Stores in ${report.storeFolder.path} (${report.storeFolder.type})` +
      (MEMORY_FILE_SYSTEMS.has(report.storeFolder.type)
        ? ": **in memory, where fsync costs nothing, so `sync: full` is not measured**; set " +
          "TMPDIR to a folder on a disk."
        : "."),
      "",
      persistence,
      "",
    ]),
    ...(targets === "" ? [] : [
      "Ratios with a target in issue 11 (fan-out's targets are set for Bun), issue 12 " +
      "(persistence) and issue 13 (cluster):",
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
    `Mosquitto config: \`${report.mosquittoConfig.join("; ")}\`. Aedes: ${report.aedesOptions}.` +
    (persistence === ""
      ? ""
      : ` Persistence scenarios: this broker adds \`${report.persistenceConfig.broker}\`, ` +
        `Mosquitto \`${report.persistenceConfig.mosquitto}\`, in a fresh temporary folder per run, ` +
        "removed after it.") +
    ` In ${[...DEFAULT_BOUNDS_SCENARIOS].join(", ")} neither broker's bounds are raised: ours ` +
    `runs with only its bind, Mosquitto without \`${MOSQUITTO_BOUNDS.join("; ")}\`.` +
    (scenarios.some((scenario) => CLUSTER_SCENARIOS.has(scenario))
      ? " Cluster scenarios: each node of this broker adds `cluster: { redis: " +
        "redis://127.0.0.1:REDIS_PORT, node: bench-N }`; Aedes' nodes are " +
        "scripts/bench/aedes-cluster-server.ts (mqemitter-redis, aedes-persistence-redis); one " +
        '`redis-server --save "" --appendonly no` per run.'
      : ""),
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
  const scenario = outcome.persistence === undefined
    ? outcome.scenario
    : `${outcome.scenario}/${outcome.persistence}`;
  console.error(`[${at}s] ${scenario.padEnd(8)} ${outcome.broker.padEnd(9)} ${summary}`);
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
  helpOnRequest(import.meta.url);
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      brokers: { type: "string" },
      scenarios: { type: "string" },
    },
  });
  const names = pick("brokers", values.brokers, BROKER_NAMES);
  const scenarios = pick("scenarios", values.scenarios, SCENARIO_IDS)
    .filter((scenario) => values.scenarios !== undefined || !OPT_IN_SCENARIOS.has(scenario));
  const settings = values.quick ? QUICK : FULL;
  const list = brokers().filter((b) => names.includes(b.name));

  const startedMs = Date.now();
  const startedAt = new Date(startedMs).toISOString();
  const brokerNotes: Partial<Record<BrokerName, string>> = {};
  const mqtt5 = scenarios.filter((scenario) => MQTT5_SCENARIOS.has(scenario));
  const stored = scenarios.filter((scenario) => OUR_VARIANTS[scenario] !== undefined);
  for (const broker of list) {
    const unasked = [
      broker.noMqtt5 !== null && mqtt5.length > 0
        ? `${broker.noMqtt5}: skipped for ${mqtt5.join(", ")}`
        : null,
      broker.noPersistence !== null && stored.length > 0
        ? `${broker.noPersistence}: skipped for ${stored.join(", ")}`
        : null,
    ];
    const note = broker.missing ?? [broker.note, ...unasked].filter((n) => n !== null).join("; ");
    if (note !== "") {
      brokerNotes[broker.name] = note;
      console.error(`${broker.name}: ${note}`);
    }
  }
  const report: Report = {
    startedAt,
    durationSeconds: 0,
    mode: values.quick ? "quick" : "full",
    settings: { ...settings, payloadBytes: 64, latencyRate: LATENCY_RATE, loadRate: LOAD_RATE },
    machine: machine(),
    versions: versions(list),
    mosquittoConfig: ["listener PORT 127.0.0.1", ...MOSQUITTO_SETTINGS],
    brokerConfig: ["bind: 127.0.0.1:PORT", ...OUR_SETTINGS],
    persistenceConfig: {
      broker: "persistence: { path: TEMP/broker.db, sync: normal | full }",
      mosquitto: "persistence true; persistence_location TEMP/",
    },
    storeFolder: { path: tmpdir(), type: fileSystemType(tmpdir()) },
    aedesOptions: "Aedes.createBroker() with its defaults, on node:net with noDelay " +
      "(scripts/bench/aedes-server.ts)",
    brokerNotes,
    outcomes: [],
  };

  const passwords = scenarios.some((scenario) => AUTH_SCENARIOS.has(scenario))
    ? makePasswordFiles()
    : undefined;
  const noRemote = which("mosquitto") === null
    ? "the bridge's remote is a Mosquitto, which is not installed"
    : null;
  const noRedis = which("redis-server") === null
    ? "redis-server is not installed (apt-get install redis-server)"
    : null;
  // Scenario by scenario, every broker in turn, so that drift on the machine hits all of them alike;
  // a runtime's ways of persisting follow one another, for the ratios between them.
  for (const scenario of scenarios) {
    for (const broker of list) {
      for (const persistence of ways(broker, scenario)) {
        const base = { broker: broker.name, scenario, ...(persistence && { persistence }) };
        let outcome: Outcome;
        if (broker.missing !== null) {
          outcome = { ...base, status: "skipped", note: broker.missing };
        } else if (broker.noMqtt5 !== null && MQTT5_SCENARIOS.has(scenario)) {
          outcome = { ...base, status: "skipped" };
        } else if (scenario === "bridge" && (broker.noBridge ?? noRemote) !== null) {
          outcome = { ...base, status: "skipped", note: (broker.noBridge ?? noRemote)! };
        } else if (AUTH_SCENARIOS.has(scenario) && broker.noAuth !== null) {
          outcome = { ...base, status: "skipped", note: broker.noAuth };
        } else if (CLUSTER_SCENARIOS.has(scenario) && (broker.noCluster ?? noRedis) !== null) {
          outcome = { ...base, status: "skipped", note: (broker.noCluster ?? noRedis)! };
        } else if (Date.now() - startedMs > settings.budgetMs) {
          outcome = { ...base, status: "skipped", note: "time budget used up" };
        } else {
          outcome = await runOne(broker, scenario, settings, persistence, passwords);
        }
        report.outcomes.push(outcome);
        progress(startedMs, outcome);
      }
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
