/**
 * Default values of every configuration key, in one place (broker.yaml documents the same).
 *
 * @module
 */
import type { Limits } from "./types.ts";

/** The listener used when the configuration has no `listeners` key: local clients only. */
export const DEFAULT_LISTENER = { name: "default", hostname: "127.0.0.1", port: 1883 } as const;

/** Host a listener binds when its `bind` is missing: every interface. */
export const DEFAULT_BIND_HOST = "0.0.0.0";

/** Port a listener binds when its `bind` is missing, by type and `ssl`. */
export const DEFAULT_PORTS = {
  tcp: 1883,
  tls: 8883,
  ws: 8080,
  wss: 8443,
  http: 8081,
  https: 8444,
} as const;

/** Keys whose defaults are plain values (seconds as given; they become ms when resolved). */
export const DEFAULTS = {
  "max-connections": 0,
  type: "tcp",
  ssl: false,
  "timeout-disconnect-delay": 2,
  sys_interval: 20,
  "allow-anonymous": true,
  "topic-check.enabled": false,
  "admin.public-metrics": false,
  "log-format": "text",
  "persistence.sync": "full",
  "cluster.heartbeat": 1,
  "cluster.connect-timeout": 5,
  "cluster.max-buffered-messages": 100_000,
  "cluster.handover-timeout": 3,
  taboo: ["prohibited", "top-secret", "data/classified"] as readonly string[],
} as const;

/** The largest remaining length MQTT can encode (four bytes of 7 bits), the cap on max-packet-size. */
export const MAX_PACKET_SIZE = 268435455;

/** Packet identifiers are 16-bit, so no more than this can be in flight. */
export const MAX_INFLIGHT = 65535;

/** Default limits, in the units of {@link Limits} (bytes, counts, milliseconds). */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxPacketSize: 1048576,
  maxInflightMessages: 20,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16777216,
  connectTimeoutMs: 10_000,
  maxOutputBytes: 1048576,
  writeTimeoutMs: 30_000,
  maxRetainedMessages: 100_000,
  maxRetainedBytes: 67108864,
  maxSessions: 100_000,
  maxSubscriptionsPerSession: 1000,
  persistentSessionExpiryMs: 7 * 24 * 3600 * 1000,
  maxSessionExpiryMs: 7 * 24 * 3600 * 1000,
  maxKeepaliveMs: 0,
  topicAliasMaximum: 10,
};

/** Keepalive and topic aliases are two-byte integers. */
export const MAX_TWO_BYTE = 65535;

/** The longest session expiry, in seconds: MQTT 5's session expiry interval is a 32-bit count. */
export const MAX_SESSION_EXPIRY = 4294967295;

/** Defaults of a bridge's keys (seconds as given). */
export const BRIDGE_DEFAULTS = {
  protocol: 5,
  /** A bridge's client id is this and its name unless `client-id` is given. */
  "client-id-prefix": "bridge-",
  "clean-start": false,
  keepalive: 60,
  reconnect: { min: 5, max: 30 },
  notifications: true,
  "max-queued-messages": 10000,
  direction: "out",
  qos: 1,
} as const;
