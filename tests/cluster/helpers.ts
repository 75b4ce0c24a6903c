/**
 * Cluster test helpers: a throwaway redis-server on a free loopback port (nothing saved), and
 * broker nodes joined to it.
 *
 * @module
 */
import { after, before } from "node:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Broker } from "../../src/broker/broker.ts";
import type { BrokerConfig } from "../../src/config/types.ts";
import type mqtt from "mqtt";
import {
  eventually,
  memoryLogger,
  type RunningCli,
  type RuntimeName,
  startBroker,
  startCli,
  within,
} from "../helpers/broker.ts";
import { freePort } from "../bridge/helpers.ts";
import { Redis } from "ioredis";

/** A redis-server started for one test file. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM) and waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, unless it runs. */
  start(): Promise<void>;
}

function findRedis(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  if (found.status === 0 && found.stdout.trim() !== "") return found.stdout.trim();
  return existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined;
}

const binary = findRedis();

/** Why the cluster tests are skipped, if they are. */
export const redisSkip: string | undefined = binary === undefined
  ? "redis-server is not installed (apt-get install redis-server)"
  : undefined;
if (redisSkip) console.log(`skipped: ${redisSkip}`);

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(binary!, [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], { stdio: ["ignore", "pipe", "pipe"] });
  // However the test process ends, its redis-server ends with it.
  const reap = () => child.kill("SIGKILL");
  process.once("exit", reap);
  child.once("exit", () => process.off("exit", reap));
  let output = "";
  const ready = new Promise<ChildProcess>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      output += d;
      if (output.includes("Ready to accept connections")) resolve(child);
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return within(ready, 10_000, "redis-server to start");
}

/** Starts redis-server on a free port. */
export async function startRedis(): Promise<TestRedis> {
  // Another process may take a free port before redis-server binds it: then try another one.
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGTERM");
      await exited;
    },
    async start() {
      if (child && child.exitCode === null) return;
      child = await launch(port);
    },
  };
}

/**
 * The redis-server of the enclosing `describe`: started before its tests, stopped after them.
 * Call it in the `describe` body; use what it returns inside the tests.
 */
export function suiteRedis(): TestRedis {
  let redis: TestRedis | undefined;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  const started = (): TestRedis => {
    if (!redis) throw new Error("suiteRedis() is used before its before() hook ran");
    return redis;
  };
  return {
    get port() {
      return started().port;
    },
    get url() {
      return started().url;
    },
    stop: () => started().stop(),
    start: () => started().start(),
  };
}

/** A broker node joined to `redis` as `node`; heartbeats are short so that tests see deaths soon. */
export async function startNode(
  redis: TestRedis,
  node: string,
  config: BrokerConfig = {},
): Promise<{ broker: Broker; url: string; lines: string[] }> {
  const logger = memoryLogger();
  const { broker, url } = await startBroker({
    cluster: { redis: redis.url, node, heartbeat: 0.5 },
    ...config,
  }, logger);
  return { broker, url, lines: logger.lines };
}

/** A plain Redis client for looking at what the cluster wrote; `quit()` it. */
export async function redisClient(redis: TestRedis): Promise<Redis> {
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  return client;
}

/** `$SYS/broker/cluster/<suffix>` of a node, once published (with a short `sys_interval`). */
export function clusterSys(broker: Broker): Map<string, string> {
  const values = new Map<string, string>();
  broker.subscribe("$SYS/broker/cluster/#", (m) => {
    values.set(m.topic.slice("$SYS/broker/cluster/".length), new TextDecoder().decode(m.payload));
  });
  return values;
}

let probes = 0;

/**
 * Waits until the filters `sub` subscribed to so far are known on the node of `pub`: it
 * subscribes one more, probes it until a message arrives, and leaves it. Announcements go out in
 * order, so the earlier ones have arrived too.
 */
export async function propagated(pub: mqtt.MqttClient, sub: mqtt.MqttClient): Promise<void> {
  const topic = `probe/${++probes}/${Math.random().toString(36).slice(2)}`;
  await sub.subscribeAsync(topic, { qos: 0 });
  let seen = false;
  const onMessage = (t: string) => {
    if (t === topic) seen = true;
  };
  sub.on("message", onMessage);
  try {
    await eventually(
      () => {
        if (!seen) pub.publish(topic, "probe");
        return seen;
      },
      10_000,
      "a filter to reach the other node",
    );
  } finally {
    sub.off("message", onMessage);
    await sub.unsubscribeAsync(topic);
  }
}

/** A broker node running the `broker` command as a child process. */
export interface ChildNode {
  readonly url: string;
  readonly run: RunningCli;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts the `broker` command on `runtime` as node `node` of the cluster on `redis`. */
export async function startChildNode(
  redis: TestRedis,
  node: string,
  runtime?: RuntimeName,
): Promise<ChildNode> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "cluster-node-"));
  const file = join(dir, "broker.yaml");
  writeFileSync(
    file,
    [
      "listeners:",
      "  default:",
      `    bind: 127.0.0.1:${port}`,
      "cluster:",
      `  redis: ${redis.url}`,
      `  node: ${node}`,
      "  heartbeat: 0.5",
      "",
    ].join("\n"),
  );
  const run = startCli(["-c", file, "--log-level", "info"], runtime);
  const reap = () => run.child.kill("SIGKILL");
  process.once("exit", reap);
  run.child.once("exit", () => process.off("exit", reap));
  const end = async (signal: "SIGKILL" | "SIGTERM") => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal);
    await run.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      () => run.output().includes("listener default ready") || run.child.exitCode !== null,
      30_000,
      `node ${node} to start`,
    );
    if (run.child.exitCode !== null) throw new Error(`node ${node} exited: ${run.output()}`);
  } catch (error) {
    await end("SIGKILL");
    throw error;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    run,
    kill: () => end("SIGKILL"),
    stop: () => end("SIGTERM"),
  };
}
