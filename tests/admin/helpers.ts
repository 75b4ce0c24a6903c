/**
 * Test helpers for the HTTP listener: a broker with an MQTT listener and a `type: http` one,
 * both on free loopback ports.
 *
 * @module
 */
import { AdminServer } from "../../src/admin/server.ts";
import type { Broker } from "../../src/broker/broker.ts";
import { newStats } from "../../src/broker/stats.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import type { BrokerConfig, ListenerConfig } from "../../src/config/types.ts";
import type { Logger } from "../../src/log.ts";
import { memoryLogger, startBroker } from "../helpers/broker.ts";

/** A running broker with its two listeners' addresses. */
export interface AdminBroker {
  broker: Broker;
  /** `mqtt://127.0.0.1:<port>` */
  mqttUrl: string;
  /** `http://127.0.0.1:<port>` (https with `ssl`). */
  httpUrl: string;
  logger: ReturnType<typeof memoryLogger>;
}

/** Starts a broker with listeners `mqtt` (TCP) and `admin` (`type: http`, plus `http` keys). */
export async function startAdminBroker(
  config: BrokerConfig = {},
  http: ListenerConfig = {},
): Promise<AdminBroker> {
  const logger = memoryLogger();
  const { broker } = await startBroker({
    ...config,
    listeners: {
      mqtt: { bind: "127.0.0.1:0" },
      admin: { type: "http", bind: "127.0.0.1:0", ...http },
    },
  }, logger);
  const port = (name: string) => broker.listeners.find((l) => l.name === name)!.port;
  const scheme = http.ssl ? "https" : "http";
  return {
    broker,
    logger,
    mqttUrl: `mqtt://127.0.0.1:${port("mqtt")}`,
    httpUrl: `${scheme}://127.0.0.1:${port("admin")}`,
  };
}

/** A handler over an idle broker of `config`, to ask as a client from any address would. */
export async function adminFor(
  config: BrokerConfig = {},
  logger: Logger = memoryLogger(),
): Promise<AdminServer> {
  const resolved = await resolveConfig(config, { baseDir: "." });
  return new AdminServer({
    stats: newStats(),
    gauges: {
      clientsConnected: 0,
      clientsByVersion: { 3: 0, 4: 0, 5: 0 },
      sessionsTotal: 0,
      sessionsDisconnected: 0,
      inflight: 0,
      queued: 0,
      retained: 0,
      retainedBytes: 0,
      subscriptions: 0,
      uptimeSeconds: 0,
    },
    listeners: [],
    connectionsByListener: new Map(),
    sessions: [],
    config: resolved,
    publish: () => {},
    subscribe: () => Object.assign(() => {}, { [Symbol.dispose]: () => {} }),
  }, logger);
}

/** A request to `path` on a loopback listener, as `fetch` would send it. */
export function request(path: string, init: RequestInit = {}): Request {
  return new Request(`http://127.0.0.1:8081${path}`, init);
}

/** Basic auth header value. */
export function basic(user: string, password: string): string {
  return `Basic ${btoa(`${user}:${password}`)}`;
}
