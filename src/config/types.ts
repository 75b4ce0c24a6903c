/**
 * Configuration types: {@link BrokerConfig} is what a user writes (YAML file or object, the seed's
 * kebab-case schema); {@link ResolvedConfig} is what the broker runs on, with every default filled
 * in and every file already read.
 *
 * @module
 */
import type { TlsOptions } from "../runtime/types.ts";
import type { Plugin } from "../plugins/types.ts";
import type { QoS } from "../protocol/packets.ts";
import type { LogFormat, LogLevel } from "../log.ts";

/** `on`/`off` as in the seed; YAML 1.2 reads those as strings, so booleans work too. */
export type Switch = boolean | "on" | "off";

/** What a listener speaks: MQTT over TCP, MQTT over WebSocket, or the admin HTTP endpoints. */
export type ListenerType = "tcp" | "ws" | "http";

/** One entry of `listeners`. */
export interface ListenerConfig {
  /** `host:port`; IPv6 as `[::1]:1883`. */
  bind?: string;
  /** Most clients at once on this listener; 0 means no limit. */
  "max-connections"?: number;
  type?: ListenerType;
  ssl?: Switch;
  /** CA certificates (PEM file) for verifying client certificates. */
  cafile?: string;
  /** A folder of PEM CA certificates. */
  capath?: string;
  /** CA certificates as PEM text. */
  cadata?: string;
  certfile?: string;
  keyfile?: string;
}

/** The whole configuration, as in the seed document plus the limits. */
export interface BrokerConfig {
  listeners?: Record<string, ListenerConfig>;
  /** Seconds of grace added to 1.5 x keepalive before a silent client is dropped. */
  "timeout-disconnect-delay"?: number;
  auth?: {
    plugins?: string[];
    "allow-anonymous"?: Switch;
    "password-file"?: string;
  };
  "topic-check"?: {
    enabled?: Switch;
    plugins?: string[];
    /** user name (or `anonymous`) -> topic filters allowed to subscribe to (and publish to, unless `publish-acl` is given). */
    acl?: Record<string, string[]>;
    /** user name (or `anonymous`) -> topic filters allowed to publish to. */
    "publish-acl"?: Record<string, string[]>;
    /** Topics `topic_taboo` forbids to everyone but the user `admin`. */
    taboo?: string[];
  };
  /** Seconds between `$SYS` updates; 0 disables them. */
  sys_interval?: number;
  /** Plugins to load: built-in names, module paths or URLs, or plugin objects. */
  plugins?: (string | Plugin)[];
  /** Largest packet accepted, in bytes (whole packet, header included). */
  "max-packet-size"?: number;
  /** QoS 1/2 messages sent to one client and not yet acknowledged. */
  "max-inflight-messages"?: number;
  /** QoS 1/2 messages queued for one session beyond the in-flight window. */
  "max-queued-messages"?: number;
  /** Bytes (topic and payload) queued for one session; 0 means count only. */
  "max-queued-bytes"?: number;
  /** Seconds a new connection may take to finish its TLS handshake and send CONNECT. */
  "connect-timeout"?: number;
  /** Bytes written to one connection and not yet taken by the network. */
  "max-output-bytes"?: number;
  /** Seconds a connection with pending output may accept no bytes before it is closed. */
  "write-timeout"?: number;
  /** Retained messages stored at once; 0 means no limit. */
  "max-retained-messages"?: number;
  /** Bytes (topic and payload) of the retained messages stored at once; 0 means no limit. */
  "max-retained-bytes"?: number;
  /** Sessions, connected or not; 0 means no limit. */
  "max-sessions"?: number;
  /** Seconds a disconnected clean-session-0 session is kept; 0 means forever. */
  "persistent-session-expiry"?: number;
  /** Subscriptions one session may hold; 0 means no limit. */
  "max-subscriptions-per-session"?: number;
  /** Seconds an MQTT 5 session may outlive its connection at most; 0 means no cap. */
  "max-session-expiry"?: number;
  /** Longest keepalive in seconds a client may use; 0 accepts the client's. */
  "max-keepalive"?: number;
  /** Topic aliases an MQTT 5 client may set per connection; 0 disables them. */
  "topic-alias-maximum"?: number;
  /** The topic under which each MQTT 5 client that asks gets its own response topics. */
  "response-topic-prefix"?: string;
  /** Where the broker keeps what must survive a restart; absent: nothing does. */
  persistence?: { path?: string; sync?: "full" | "normal" };
  /** The Redis that several brokers share to act as one; absent: this broker is alone. */
  cluster?: {
    /** `redis://` or `rediss://`, with user, password and database number if needed. */
    redis?: string;
    /** This node's name in the cluster; default: host name and process id. */
    node?: string;
    /** Seconds between heartbeats; a node silent for three is taken for dead. */
    heartbeat?: number;
    /** Seconds to reach Redis at start before giving up. */
    "connect-timeout"?: number;
    /** Cross-node messages kept while Redis is unreachable; past it they are dropped, counted. */
    "max-buffered-messages"?: number;
    /** Seconds to wait for another node to hand over a session; then its copy in Redis, if any. */
    "handover-timeout"?: number;
  };
  /** Who may use `type: http` listeners. */
  admin?: {
    /** User names from `auth.password-file` that may log in; none: loopback clients only. */
    users?: string[];
    /** Whether `/metrics` is served without a login (when admin users are configured). */
    "public-metrics"?: Switch;
  };
  /** Least severe level logged by the CLI (and by `createBroker` without a logger of its own). */
  "log-level"?: LogLevel;
  /** `text` lines or `json` lines. */
  "log-format"?: LogFormat;
  /** Connections to other brokers, by name. */
  bridges?: Record<string, BridgeConfig>;
}

/** One topic pattern of a bridge. */
export interface BridgeTopicConfig {
  /** A topic filter, below the prefixes. */
  pattern: string;
  /** `out`: local to remote; `in`: remote to local; `both`. */
  direction?: "in" | "out" | "both";
  qos?: QoS;
  /** Ends with `/`, or empty. */
  "local-prefix"?: string;
  "remote-prefix"?: string;
}

/** One entry of `bridges`. */
export interface BridgeConfig {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://`; a list is tried in order, for fail-over. */
  address: string | string[];
  /** 5 for MQTT 5.0, 4 for 3.1.1. */
  protocol?: 4 | 5;
  "client-id"?: string;
  username?: string;
  password?: string;
  "password-file"?: string;
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  "clean-start"?: Switch;
  keepalive?: number;
  topics: BridgeTopicConfig[];
  /** Seconds between reconnection attempts, growing from min to max, jittered. */
  reconnect?: { min?: number; max?: number };
  notifications?: Switch;
  "max-queued-messages"?: number;
}

/** The `cluster` section, validated. */
export interface ClusterSettings {
  redis: string;
  node: string;
  heartbeatMs: number;
  connectTimeoutMs: number;
  maxBufferedMessages: number;
  /** How long a node waits for another to hand a session over, in ms. */
  handoverTimeoutMs: number;
}

/** The `persistence` section, validated. */
export interface PersistenceSettings {
  /** The store's file; absolute once resolved. */
  path: string;
  /** `full`: durable against power loss (fsync per commit); `normal`: against a process crash. */
  sync: "full" | "normal";
}

/** A listener ready to bind. */
export interface ResolvedListener {
  name: string;
  hostname: string;
  port: number;
  type: ListenerType;
  /** 0 means no limit. */
  maxConnections: number;
  tls?: TlsOptions;
}

/** Limits, all in bytes, counts or milliseconds. */
export interface Limits {
  maxPacketSize: number;
  maxInflightMessages: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  connectTimeoutMs: number;
  maxOutputBytes: number;
  writeTimeoutMs: number;
  /** 0 means no limit, for these four counts and bytes. */
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  maxSessions: number;
  maxSubscriptionsPerSession: number;
  /** 0 means sessions never expire. */
  persistentSessionExpiryMs: number;
  /** Cap on an MQTT 5 client's session expiry interval; 0 means no cap. */
  maxSessionExpiryMs: number;
  /** 0 means the client's keepalive is accepted as it is. */
  maxKeepaliveMs: number;
  topicAliasMaximum: number;
}

/** A bridge's topic pattern, resolved. */
export interface ResolvedBridgeTopic {
  pattern: string;
  direction: "in" | "out" | "both";
  qos: QoS;
  localPrefix: string;
  remotePrefix: string;
}

/** A bridge ready to connect: defaults applied, files read. */
export interface ResolvedBridge {
  name: string;
  /** In fail-over order. */
  addresses: string[];
  protocol: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM texts. */
  tls?: { ca?: string; cert?: string; key?: string };
  cleanStart: boolean;
  /** Seconds. */
  keepalive: number;
  topics: ResolvedBridgeTopic[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
  notifications: boolean;
  maxQueuedMessages: number;
}

/** The configuration the broker runs on: validated, defaults applied, files read. */
export interface ResolvedConfig {
  listeners: ResolvedListener[];
  timeoutDisconnectDelayMs: number;
  auth: {
    /** Names of the plugins asked to authenticate; undefined asks every loaded one. */
    plugins?: string[];
    allowAnonymous: boolean;
    passwordFile?: string;
  };
  topicCheck: {
    enabled: boolean;
    plugins?: string[];
    acl?: Record<string, string[]>;
    publishAcl?: Record<string, string[]>;
    taboo: string[];
  };
  sysIntervalMs: number;
  /** Response information is `<prefix>/<client id>`; undefined sends none. */
  responseTopicPrefix?: string;
  /** undefined loads the default set of built-ins. */
  plugins?: (string | Plugin)[];
  limits: Limits;
  bridges: ResolvedBridge[];
  admin: {
    /** Empty: only loopback clients may use `type: http` listeners. */
    users: string[];
    publicMetrics: boolean;
  };
  /** undefined: the embedder's or the CLI's choice. */
  logLevel?: LogLevel;
  logFormat: LogFormat;
  /** Undefined: nothing survives a restart. */
  persistence?: PersistenceSettings;
  /** Undefined: this broker is alone. */
  cluster?: ClusterSettings;
}
