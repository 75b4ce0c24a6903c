/**
 * broker: an MQTT 3.1.1 and 5.0 broker that runs unchanged on Deno, Bun and Node.
 *
 * ```ts
 * import { createBroker } from "broker";
 *
 * await using broker = await createBroker({
 *   listeners: { default: { bind: "127.0.0.1:1883" } },
 * });
 * broker.on("broker_message_received", (client, message) => {
 *   console.log(client?.clientId, message.topic);
 * });
 * broker.publish({ topic: "hello", payload: "world", retain: true });
 * ```
 *
 * @module
 */
export { createBroker, type CreateBrokerOptions } from "./src/broker/create.ts";
export type {
  BoundListener,
  Broker,
  Gauges,
  MessageHandler,
  PublishOptions,
  Unsubscribe,
} from "./src/broker/broker.ts";
export type { ByVersionQos, Stats } from "./src/broker/stats.ts";
export type { BrokerConfig, ListenerConfig } from "./src/config/types.ts";
export { ConfigError } from "./src/config/error.ts";
export type {
  AuthContinue,
  AuthExchange,
  AuthExchangeRequest,
  AuthFailure,
  AuthRequest,
  AuthStep,
  AuthSuccess,
  AuthVerdict,
  AuthVerdictDetails,
  BrokerEventHandler,
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  ConnectProperties,
  DisconnectDetails,
  DisconnectReason,
  Message,
  MessageProperties,
  Plugin,
  PluginContext,
  TopicAction,
  UserProperty,
  Verdict,
  VerdictDetails,
} from "./src/plugins/types.ts";
export { createLogger, type Logger, type LogLevel } from "./src/log.ts";
export { VERSION } from "./src/version.ts";
