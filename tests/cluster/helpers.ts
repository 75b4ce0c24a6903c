/**
 * Cluster test helpers: a throwaway redis-server on a free loopback port (nothing saved), and
 * broker nodes joined to it.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Broker } from "../../src/broker/broker.ts";
import type { BrokerConfig } from "../../src/config/types.ts";
import { memoryLogger, startBroker, within } from "../helpers/broker.ts";
import { freePort } from "../bridge/helpers.ts";

/** A redis-server started for one test file. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM) and waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
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
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
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
      child = await launch(port);
    },
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
    cluster: { redis: redis.url, node, heartbeat: 0.2 },
    ...config,
  }, logger);
  return { broker, url, lines: logger.lines };
}
