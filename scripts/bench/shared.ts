/**
 * What the benchmark driver and its load generator agree on: the job the driver hands over as one
 * JSON argument, and the result the load generator prints back as one JSON line on stdout.
 *
 * @module
 */

/**
 * The scenarios, in the order they run: those added for MQTT 5.0 and then persistence last, so that
 * the 3.1.1 ones run as they always did, and a run that uses up its time budget loses only new ones.
 */
export const SCENARIO_IDS = [
  "fanin",
  "fanout",
  "qos1",
  "latency",
  "idle",
  "connrate",
  "connrate-auth",
  "storm",
  "storm-auth",
  "fanin5",
  "fanout5",
  "qos1v5",
  "shared",
  "shared5",
  "bridge",
  "qos1p",
  "fanout1p",
  "latencyp",
  "qos1d",
  "idle50k",
  "cfanin",
  "cfanout",
  "cqos1",
] as const;

/** One scenario's id. */
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/**
 * The scenarios a run without `--scenarios` leaves out: too long for the run's budget (idle50k,
 * and the cluster ones, which start three nodes and a Redis each).
 */
export const OPT_IN_SCENARIOS: ReadonlySet<ScenarioId> = new Set([
  "idle50k",
  "cfanin",
  "cfanout",
  "cqos1",
]);

/** The scenarios in which both brokers keep their default bounds (in flight, queued). */
export const DEFAULT_BOUNDS_SCENARIOS: ReadonlySet<ScenarioId> = new Set(["qos1d"]);

/** The scenarios in which every client speaks MQTT 5.0. */
export const MQTT5_SCENARIOS: ReadonlySet<ScenarioId> = new Set([
  "fanin5",
  "fanout5",
  "qos1v5",
  "shared5",
]);

/**
 * The scenarios in which every client logs in with a user name and password from the bench's
 * password file of `$7$` hashes (see {@link benchCredentials}).
 */
export const AUTH_SCENARIOS: ReadonlySet<ScenarioId> = new Set(["connrate-auth", "storm-auth"]);

/** How many users the bench's password file holds; client `i` logs in as user `i % BENCH_USERS`. */
export const BENCH_USERS = 10;

/** The user name and password of bench user `i` (modulo {@link BENCH_USERS}). */
export function benchCredentials(i: number): { username: string; password: string } {
  const n = i % BENCH_USERS;
  return { username: `bench-user-${n}`, password: `bench-password-${n}` };
}

/** Clients that CONNECT at once in one round of the storm scenarios (see storm.ts). */
export const STORM_CLIENTS = 1000;

/** What one round of a storm reports. */
export interface StormRound {
  accepted: number;
  refused: number;
  /** Connections closed or failed before a CONNACK. */
  lost: number;
  /** From the first CONNECT to the last answer. */
  ms: number;
}

/** Everything the load generator needs to drive one broker through one scenario. */
export interface Job {
  scenario: ScenarioId;
  port: number;
  /**
   * Where the subscribers connect when it is not `port`, subscriber i to the i-th modulo their
   * number: the remote end of a bridge, or other nodes of a cluster.
   */
  subscribePorts?: number[];
  /** Where the publishers connect when it is not `port`, publisher i to the i-th modulo their number. */
  publishPorts?: number[];
  /** The broker's process id, whose CPU time and RSS are read from /proc. */
  brokerPid: number;
  /**
   * The other processes of a cluster (its other nodes and redis-server): their CPU time and peak
   * RSS count with the broker's.
   */
  peerPids?: number[];
  /**
   * How long subscribers' filters take to reach the other nodes of a cluster, in ms: the
   * publishers start this long after the subscriptions were granted.
   */
  settleMs?: number;
  warmupMs: number;
  windowMs: number;
  /** How long QoS 1 waits after publishers stop for deliveries to catch up with acknowledgements. */
  drainMs: number;
  idleConnections: number;
  payloadBytes: number;
  /** The fixed publish rate of the latency scenario, in messages per second. */
  latencyRate: number;
  /** The fixed rate of latencyp's QoS 1 load, in messages per second over all its publishers. */
  loadRate: number;
  /** The load generator gives up and reports a failure after this long. */
  deadlineMs: number;
}

/** What the load generator reports; `metrics` keys depend on the scenario (see loadgen.ts). */
export interface LoadResult {
  status: "ok" | "failed";
  error?: string;
  /** The failure was the broker refusing connections or its process vanishing. */
  brokerDown?: boolean;
  /** The failure was the broker refusing, or saying it lacks, what the scenario needs (e.g. 5.0). */
  unsupported?: boolean;
  metrics: Record<string, number>;
  /** Broker CPU over the measurement window, in percent of one core. */
  brokerCpuPct?: number;
  /** The broker's peak resident set (VmHWM) at the end of the scenario. */
  brokerPeakRssKb?: number;
  /** The load generator's own CPU over the window, to show whether it was the bottleneck. */
  loadgenCpuPct?: number;
  /** CPU used on the machine by everything else (kernel work, other programs) over the window. */
  otherCpuPct?: number;
}

/** Prefix of the one stdout line that carries the LoadResult. */
export const RESULT_PREFIX = "RESULT ";
