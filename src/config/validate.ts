/**
 * Checks an unknown value (parsed YAML or an embedder's object) against the configuration schema,
 * reporting every problem at once, and returns what was valid in normalised form: switches as
 * booleans, seconds as milliseconds, binds parsed, built-in plugin names in their canonical spelling.
 * Defaults, inheritance between listeners and files are left to `resolve.ts`.
 *
 * @module
 */
import { topicFilterError, topicNameError } from "../protocol/topic.ts";
import type { Plugin } from "../plugins/types.ts";
import { type BindAddress, parseBind } from "./bind.ts";
import { MAX_INFLIGHT, MAX_PACKET_SIZE, MAX_SESSION_EXPIRY, MAX_TWO_BYTE } from "./defaults.ts";
import { checkBridges, type CheckedBridge } from "./bridges.ts";
import { builtinName, isPluginObject, pluginSpecError } from "./plugins.ts";
import { isRecord, type KeyPath, Problems } from "./problems.ts";
import type { ClusterSettings, Limits, ListenerType, PersistenceSettings } from "./types.ts";
import type { LogFormat, LogLevel } from "../log.ts";
import { checkAdmin, type CheckedAdmin, checkLogFormat, checkLogLevel } from "./admin.ts";
import { checkPersistence } from "./persistence.ts";
import { checkCluster } from "./cluster.ts";
import { checkInteger, checkSeconds, checkString, checkStringList, checkSwitch } from "./values.ts";

/** One listener's own settings, before `default` is merged in. */
export interface CheckedListener {
  /** The keys written for this listener, valid or not: a bad value is not replaced by a default. */
  written: ReadonlySet<string>;
  bind?: BindAddress;
  maxConnections?: number;
  type?: ListenerType;
  ssl?: boolean;
  cafile?: string;
  capath?: string;
  cadata?: string;
  certfile?: string;
  keyfile?: string;
}

/** The valid part of a configuration; absent keys are left undefined for their defaults. */
export interface CheckedConfig {
  /** In the order written; undefined when the key is absent. */
  listeners?: [name: string, listener: CheckedListener][];
  timeoutDisconnectDelayMs?: number;
  auth: { plugins?: string[]; allowAnonymous?: boolean; passwordFile?: string };
  topicCheck: {
    enabled?: boolean;
    plugins?: string[];
    acl?: Record<string, string[]>;
    publishAcl?: Record<string, string[]>;
    taboo?: string[];
  };
  sysIntervalMs?: number;
  responseTopicPrefix?: string;
  plugins?: (string | Plugin)[];
  limits: Partial<Limits>;
  bridges: CheckedBridge[];
  admin: CheckedAdmin;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  persistence?: PersistenceSettings;
  cluster?: ClusterSettings;
}

/** What {@link validateConfig} returns. */
export interface Validation {
  config: CheckedConfig;
  /** Every problem found, one line each; empty when the configuration is valid. */
  problems: string[];
}

const LIMIT_KEYS = [
  "max-packet-size",
  "max-inflight-messages",
  "max-queued-messages",
  "max-queued-bytes",
  "connect-timeout",
  "max-output-bytes",
  "write-timeout",
  "max-retained-messages",
  "max-retained-bytes",
  "max-sessions",
  "persistent-session-expiry",
  "max-subscriptions-per-session",
  "max-session-expiry",
  "max-keepalive",
  "topic-alias-maximum",
] as const;

/** The top-level keys. */
export const TOP_KEYS: readonly string[] = [
  "listeners",
  "timeout-disconnect-delay",
  "auth",
  "topic-check",
  "sys_interval",
  "plugins",
  "response-topic-prefix",
  "bridges",
  "admin",
  "log-level",
  "log-format",
  "persistence",
  "cluster",
  ...LIMIT_KEYS,
];

/** The keys of one listener. */
export const LISTENER_KEYS: readonly string[] = [
  "bind",
  "max-connections",
  "type",
  "ssl",
  "cafile",
  "capath",
  "cadata",
  "certfile",
  "keyfile",
];

const AUTH_KEYS = ["plugins", "allow-anonymous", "password-file"];
const TOPIC_CHECK_KEYS = ["enabled", "plugins", "acl", "publish-acl", "taboo"];

/**
 * A section that must be a map; YAML writes a section whose keys are all commented out as null,
 * which counts as empty rather than wrong.
 */
function section(
  problems: Problems,
  path: KeyPath,
  value: unknown,
  expected: string,
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (isRecord(value)) return value;
  problems.invalid(path, value, expected);
  return undefined;
}

function checkBind(problems: Problems, path: KeyPath, value: unknown): BindAddress | undefined {
  if (typeof value !== "string") {
    const hint = typeof value === "number" ? `write the host too, as 0.0.0.0:${value}` : undefined;
    problems.invalid(path, value, "host:port", hint);
    return undefined;
  }
  const result = parseBind(value);
  if (result.address === undefined) problems.invalid(path, value, "host:port", result.hint);
  return result.address;
}

function checkListener(problems: Problems, path: KeyPath, value: unknown): CheckedListener {
  const map = section(problems, path, value, "a map of listener settings") ?? {};
  problems.unknownKeys(path, map, LISTENER_KEYS);
  const out: CheckedListener = {
    written: new Set(Object.keys(map).filter((key) => LISTENER_KEYS.includes(key))),
  };
  const at = (key: string): KeyPath => [...path, key];
  if ("bind" in map) out.bind = checkBind(problems, at("bind"), map.bind);
  if ("max-connections" in map) {
    out.maxConnections = checkInteger(problems, at("max-connections"), map["max-connections"], 0);
  }
  if ("type" in map) {
    if (map.type === "tcp" || map.type === "ws" || map.type === "http") out.type = map.type;
    else problems.invalid(at("type"), map.type, "tcp, ws or http");
  }
  if ("ssl" in map) out.ssl = checkSwitch(problems, at("ssl"), map.ssl);
  for (const key of ["cafile", "capath", "certfile", "keyfile"] as const) {
    if (key in map) {
      const expected = key === "capath" ? "a folder path" : "a file path";
      out[key] = checkString(problems, at(key), map[key], expected);
    }
  }
  if ("cadata" in map) {
    out.cadata = checkString(problems, at("cadata"), map.cadata, "PEM certificate text");
  }
  return out;
}

function checkListeners(
  problems: Problems,
  value: unknown,
): [string, CheckedListener][] | undefined {
  const map = section(problems, ["listeners"], value, "a map of named listeners");
  if (map === undefined) return undefined;
  return Object.entries(map).map(([name, entry]) => [
    name,
    checkListener(problems, ["listeners", name], entry),
  ]);
}

function checkPluginNames(problems: Problems, path: KeyPath, value: unknown): string[] | undefined {
  // These lists may name third-party plugins by their `name`, so any string goes; only the
  // seed's dotted spellings of built-ins are normalised.
  const names = checkStringList(problems, path, value, "a list of plugin names", "a plugin name");
  return names?.map((name) => builtinName(name) ?? name);
}

function checkPlugins(problems: Problems, value: unknown): (string | Plugin)[] | undefined {
  if (!Array.isArray(value)) {
    problems.invalid(["plugins"], value, "a list of plugin names, module paths or URLs");
    return undefined;
  }
  const out: (string | Plugin)[] = [];
  value.forEach((entry: unknown, i) => {
    const path = ["plugins", i];
    if (typeof entry === "string" && entry !== "") {
      const why = pluginSpecError(entry);
      if (why === undefined) out.push(builtinName(entry) ?? entry);
      else problems.invalid(path, entry, "a built-in plugin or a module path or URL", why);
    } else if (isPluginObject(entry)) {
      out.push(entry);
    } else {
      problems.invalid(
        path,
        entry,
        "a plugin name, a module path or URL, or a plugin object with a string name",
      );
    }
  });
  return out;
}

function aclFilterError(filter: string): string | undefined {
  // `%u` and `%c` are replaced by one level's worth of text at check time.
  return topicFilterError(filter.replace(/%[uc]/g, "x"));
}

function checkAcl(
  problems: Problems,
  path: KeyPath,
  value: unknown,
): Record<string, string[]> | undefined {
  if (!isRecord(value)) {
    problems.invalid(path, value, "a map of user name to a list of topic filters");
    return undefined;
  }
  const out: Record<string, string[]> = {};
  for (const [user, filters] of Object.entries(value)) {
    if (filters === null) {
      problems.add([...path, user], "no value (expected a list of topic filters; [] allows none)");
      continue;
    }
    const list = checkStringList(
      problems,
      [...path, user],
      filters,
      "a list of topic filters",
      "a topic filter",
      aclFilterError,
    );
    if (list !== undefined) out[user] = list;
  }
  return out;
}

function checkAuth(problems: Problems, value: unknown): CheckedConfig["auth"] {
  const map = section(problems, ["auth"], value, "a map of auth settings");
  if (map === undefined) return {};
  problems.unknownKeys(["auth"], map, AUTH_KEYS);
  const out: CheckedConfig["auth"] = {};
  if ("plugins" in map) out.plugins = checkPluginNames(problems, ["auth", "plugins"], map.plugins);
  if ("allow-anonymous" in map) {
    out.allowAnonymous = checkSwitch(problems, ["auth", "allow-anonymous"], map["allow-anonymous"]);
  }
  if ("password-file" in map) {
    out.passwordFile = checkString(
      problems,
      ["auth", "password-file"],
      map["password-file"],
      "a file path",
    );
  }
  return out;
}

function checkTopicCheck(problems: Problems, value: unknown): CheckedConfig["topicCheck"] {
  const path = ["topic-check"];
  const map = section(problems, path, value, "a map of topic-check settings");
  if (map === undefined) return {};
  problems.unknownKeys(path, map, TOPIC_CHECK_KEYS);
  const out: CheckedConfig["topicCheck"] = {};
  if ("enabled" in map) out.enabled = checkSwitch(problems, [...path, "enabled"], map.enabled);
  if ("plugins" in map) out.plugins = checkPluginNames(problems, [...path, "plugins"], map.plugins);
  if ("acl" in map) out.acl = checkAcl(problems, [...path, "acl"], map.acl);
  if ("publish-acl" in map) {
    out.publishAcl = checkAcl(problems, [...path, "publish-acl"], map["publish-acl"]);
  }
  if ("taboo" in map) {
    out.taboo = checkStringList(
      problems,
      [...path, "taboo"],
      map.taboo,
      "a list of topics",
      "a topic or topic filter",
      topicFilterError,
    );
  }
  return out;
}

/**
 * A topic name without `$` at its start: every client's response topics go under it, so it must
 * be a name clients can publish to (`$` topics are the broker's).
 */
function checkResponseTopicPrefix(problems: Problems, value: unknown): string | undefined {
  const path = ["response-topic-prefix"];
  const expected = "a topic name such as reply";
  const prefix = checkString(problems, path, value, expected);
  if (prefix === undefined) return undefined;
  const why = prefix.startsWith("$") ? "it must not start with $" : topicNameError(prefix);
  if (why === undefined) return prefix;
  problems.invalid(path, value, expected, why);
  return undefined;
}

function checkLimits(problems: Problems, map: Record<string, unknown>): Partial<Limits> {
  const out: Partial<Limits> = {};
  const has = (key: (typeof LIMIT_KEYS)[number]) => key in map;
  const int = (key: string, min: number, max?: number) =>
    checkInteger(problems, [key], map[key], min, max);
  const secs = (key: string) => checkSeconds(problems, [key], map[key], true);
  if (has("max-packet-size")) out.maxPacketSize = int("max-packet-size", 2, MAX_PACKET_SIZE);
  if (has("max-inflight-messages")) {
    out.maxInflightMessages = int("max-inflight-messages", 1, MAX_INFLIGHT);
  }
  if (has("max-queued-messages")) out.maxQueuedMessages = int("max-queued-messages", 0);
  if (has("max-queued-bytes")) out.maxQueuedBytes = int("max-queued-bytes", 0);
  if (has("connect-timeout")) out.connectTimeoutMs = secs("connect-timeout");
  if (has("max-output-bytes")) out.maxOutputBytes = int("max-output-bytes", 1);
  if (has("write-timeout")) out.writeTimeoutMs = secs("write-timeout");
  if (has("max-retained-messages")) out.maxRetainedMessages = int("max-retained-messages", 0);
  if (has("max-retained-bytes")) out.maxRetainedBytes = int("max-retained-bytes", 0);
  if (has("max-sessions")) out.maxSessions = int("max-sessions", 0);
  // Never a timer's delay (expiry is checked by the sweep), so longer than MAX_SECONDS is fine.
  const expiry = (key: string) =>
    checkSeconds(problems, [key], map[key], false, MAX_SESSION_EXPIRY);
  if (has("persistent-session-expiry")) {
    out.persistentSessionExpiryMs = expiry("persistent-session-expiry");
  }
  if (has("max-session-expiry")) out.maxSessionExpiryMs = expiry("max-session-expiry");
  if (has("max-keepalive")) {
    // Whole seconds: the broker tells 5.0 clients the value as a two-byte count of seconds.
    const seconds = int("max-keepalive", 0, MAX_TWO_BYTE);
    out.maxKeepaliveMs = seconds === undefined ? undefined : seconds * 1000;
  }
  if (has("topic-alias-maximum")) {
    out.topicAliasMaximum = int("topic-alias-maximum", 0, MAX_TWO_BYTE);
  }
  if (has("max-subscriptions-per-session")) {
    out.maxSubscriptionsPerSession = int("max-subscriptions-per-session", 0);
  }
  // A key that failed its check is left out rather than set to undefined.
  for (const key of Object.keys(out) as (keyof Limits)[]) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}

/**
 * Checks `input` against the configuration schema, recording every problem in `problems`;
 * invalid values are left out of the returned configuration.
 */
export function checkConfig(input: unknown, problems: Problems): CheckedConfig {
  const map = input === undefined || input === null
    ? {}
    : section(problems, [], input, "a map of configuration keys") ?? {};
  problems.unknownKeys([], map, TOP_KEYS);
  const listeners = checkListeners(problems, map.listeners);
  const timeoutDisconnectDelayMs = "timeout-disconnect-delay" in map
    ? checkSeconds(problems, ["timeout-disconnect-delay"], map["timeout-disconnect-delay"])
    : undefined;
  const auth = checkAuth(problems, map.auth);
  const topicCheck = checkTopicCheck(problems, map["topic-check"]);
  const sysIntervalMs = "sys_interval" in map
    ? checkSeconds(problems, ["sys_interval"], map.sys_interval)
    : undefined;
  const plugins = "plugins" in map ? checkPlugins(problems, map.plugins) : undefined;
  const responseTopicPrefix = "response-topic-prefix" in map
    ? checkResponseTopicPrefix(problems, map["response-topic-prefix"])
    : undefined;
  const limits = checkLimits(problems, map);
  const bridges = checkBridges(problems, map.bridges);
  const admin = checkAdmin(problems, map.admin);
  const config: CheckedConfig = { listeners, auth, topicCheck, limits, bridges, admin };
  if ("log-level" in map) config.logLevel = checkLogLevel(problems, map["log-level"]);
  if ("log-format" in map) config.logFormat = checkLogFormat(problems, map["log-format"]);
  if (timeoutDisconnectDelayMs !== undefined) {
    config.timeoutDisconnectDelayMs = timeoutDisconnectDelayMs;
  }
  if (sysIntervalMs !== undefined) config.sysIntervalMs = sysIntervalMs;
  if (responseTopicPrefix !== undefined) config.responseTopicPrefix = responseTopicPrefix;
  if (plugins !== undefined) config.plugins = plugins;
  const persistence = checkPersistence(problems, map.persistence);
  if (persistence) config.persistence = persistence;
  const cluster = checkCluster(problems, map.cluster);
  if (cluster) config.cluster = cluster;
  return config;
}

/**
 * Checks `input` against the configuration schema. Every problem is reported (unknown keys with a
 * did-you-mean, wrong types, bad values), each naming the key path, the value and what is
 * expected; invalid values are left out of the returned configuration. Files are not read: that
 * is `resolveConfig`'s job.
 */
export function validateConfig(input: unknown): Validation {
  const problems = new Problems();
  const config = checkConfig(input, problems);
  return { config, problems: [...problems.lines] };
}
