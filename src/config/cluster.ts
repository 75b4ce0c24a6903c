/**
 * The `cluster` section: the Redis that several broker processes share to behave as one, and
 * this process's name among them. Absent: the broker is alone.
 *
 * @module
 */
import { hostname } from "node:os";
import process from "node:process";
import { isRecord, type Problems } from "./problems.ts";
import { checkInteger, checkSeconds, checkString } from "./values.ts";
import type { ClusterSettings } from "./types.ts";
import { DEFAULTS } from "./defaults.ts";

const KEYS = [
  "redis",
  "node",
  "heartbeat",
  "connect-timeout",
  "max-buffered-messages",
  "handover-timeout",
];

/** What a node name may hold: it becomes part of Redis keys and log lines. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The default node name: host name and process id, reduced to what a node name may hold. */
export function defaultNodeName(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 40) || "node";
  return `${/^[A-Za-z0-9]/.test(host) ? host : `n${host}`}-${process.pid}`;
}

function checkRedisUrl(problems: Problems, value: unknown): string | undefined {
  const path = ["cluster", "redis"];
  const url = checkString(problems, path, value, "a redis:// or rediss:// URL");
  if (url === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    !parsed || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") || !parsed.hostname
  ) {
    problems.invalid(
      path,
      value,
      "a redis:// or rediss:// URL",
      "e.g. redis://127.0.0.1:6379 or rediss://user:password@redis.example:6380/0",
    );
    return undefined;
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) {
    problems.invalid(path, value, "a redis:// URL whose path is a database number", "e.g. /0");
    return undefined;
  }
  return url;
}

/** The valid part of `cluster`; undefined when absent or invalid. */
export function checkCluster(problems: Problems, value: unknown): ClusterSettings | undefined {
  if (value === undefined || value === null) return undefined;
  const path = ["cluster"];
  if (!isRecord(value)) {
    problems.invalid(path, value, "a map with redis and node");
    return undefined;
  }
  problems.unknownKeys(path, value, KEYS);
  if (!("redis" in value)) {
    problems.add(path, "no redis (expected the Redis URL, e.g. redis://127.0.0.1:6379)");
    return undefined;
  }
  const redis = checkRedisUrl(problems, value.redis);
  let node: string | undefined = defaultNodeName();
  if ("node" in value) {
    node = undefined;
    const given = value.node;
    if (typeof given === "string" && NODE_NAME.test(given)) node = given;
    else {
      problems.invalid(
        [...path, "node"],
        given,
        "a node name of 1 to 64 letters, digits, dots, dashes and underscores",
        "it must start with a letter or a digit, e.g. edge-1",
      );
    }
  }
  const seconds = (key: string, fallback: number) =>
    key in value ? checkSeconds(problems, [...path, key], value[key], true, 3600) : fallback * 1000;
  const heartbeatMs = seconds("heartbeat", DEFAULTS["cluster.heartbeat"]);
  const connectTimeoutMs = seconds("connect-timeout", DEFAULTS["cluster.connect-timeout"]);
  const handoverTimeoutMs = seconds("handover-timeout", DEFAULTS["cluster.handover-timeout"]);
  const maxBufferedMessages = "max-buffered-messages" in value
    ? checkInteger(problems, [...path, "max-buffered-messages"], value["max-buffered-messages"], 1)
    : DEFAULTS["cluster.max-buffered-messages"];
  if (
    redis === undefined || node === undefined || heartbeatMs === undefined ||
    connectTimeoutMs === undefined || maxBufferedMessages === undefined ||
    handoverTimeoutMs === undefined
  ) return undefined;
  return { redis, node, heartbeatMs, connectTimeoutMs, maxBufferedMessages, handoverTimeoutMs };
}
