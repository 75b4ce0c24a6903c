/**
 * Connections to the cluster's Redis (ioredis). Commands fail at once while the link is down
 * instead of waiting in ioredis' own queue: the cluster keeps its own bounded buffer and decides
 * what to resend, in order, once the link is back.
 *
 * @module
 */
import { Redis } from "ioredis";
import type { ClusterSettings } from "../config/types.ts";

/** The longest wait between two reconnection attempts, in ms. */
const MAX_BACKOFF_MS = 5000;

/** Opens a connection that reconnects with a growing backoff; `connect()` dials. */
export function redisConnection(settings: ClusterSettings, name: string): Redis {
  return new Redis(settings.redis, {
    lazyConnect: true,
    connectionName: `broker-${settings.node}-${name}`,
    connectTimeout: settings.connectTimeoutMs,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(attempt, 7)),
  });
}

/**
 * Dials `redis` and waits until it answers, at most the configured connect timeout; rejects with
 * an error naming the configuration key.
 */
export async function connectOrFail(redis: Redis, settings: ClusterSettings): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastError = "no answer";
  const onError = (error: Error) => lastError = error.message || error.name;
  redis.on("error", onError);
  try {
    await Promise.race([
      redis.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timed out")), settings.connectTimeoutMs);
      }),
    ]);
  } catch (error) {
    redis.disconnect();
    const why = error instanceof Error && error.message !== "timed out"
      ? error.message
      : `${lastError} within ${settings.connectTimeoutMs / 1000} s`;
    throw new Error(
      `cluster.redis: cannot reach ${redactUrl(settings.redis)} (${why}); start Redis there or ` +
        `fix the URL (cluster.connect-timeout bounds the wait)`,
    );
  } finally {
    clearTimeout(timer);
    redis.off("error", onError);
  }
}

/** The URL without its password, for log lines and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "the configured URL";
  }
}
