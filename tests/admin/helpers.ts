/**
 * Test helpers for the HTTP listener: a broker with an MQTT listener and a `type: http` one,
 * both on free loopback ports.
 *
 * @module
 */
import type { Broker } from "../../src/broker/broker.ts";
import type { BrokerConfig, ListenerConfig } from "../../src/config/types.ts";
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
