/**
 * The `bridges` key: connections to other brokers, each checked key by key (addresses, prefixes,
 * topic patterns) and resolved with its defaults and its password and TLS files read.
 *
 * @module
 */
import { resolve } from "node:path";
import { topicFilterError } from "../protocol/topic.ts";
import type { QoS } from "../protocol/packets.ts";
import { BRIDGE_DEFAULTS, MAX_TWO_BYTE } from "./defaults.ts";
import type { FileReader } from "./files.ts";
import { isRecord, type KeyPath, type Problems } from "./problems.ts";
import type { ResolvedBridge, ResolvedBridgeTopic } from "./types.ts";
import { checkInteger, checkSeconds, checkString, checkSwitch } from "./values.ts";

/** The keys of one bridge. */
export const BRIDGE_KEYS: readonly string[] = [
  "address",
  "protocol",
  "client-id",
  "username",
  "password",
  "password-file",
  "certfile",
  "keyfile",
  "cafile",
  "clean-start",
  "keepalive",
  "topics",
  "reconnect",
  "notifications",
  "max-queued-messages",
];

const TOPIC_KEYS = ["pattern", "direction", "qos", "local-prefix", "remote-prefix"];
const RECONNECT_KEYS = ["min", "max"];
const SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

/** A bridge as checked: files not read yet, defaults not applied. */
export interface CheckedBridge {
  name: string;
  addresses?: string[];
  protocol?: 4 | 5;
  clientId?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  cleanStart?: boolean;
  keepalive?: number;
  topics?: ResolvedBridgeTopic[];
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  notifications?: boolean;
  maxQueuedMessages?: number;
}

function addressError(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "write it as mqtt://host:port, mqtts://, ws:// or wss://";
  }
  if (!SCHEMES.includes(url.protocol)) {
    return `the scheme must be mqtt, mqtts, ws or wss, not ${url.protocol.slice(0, -1)}`;
  }
  if (url.hostname === "") return "it names no host";
  if (url.username !== "" || url.password !== "") {
    return "put credentials in username and password-file, not in the address";
  }
  return undefined;
}

function checkAddresses(problems: Problems, path: KeyPath, value: unknown): string[] | undefined {
  const expected = "an mqtt://, mqtts://, ws:// or wss:// address, or a list of them";
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    problems.invalid(path, value, expected);
    return undefined;
  }
  const out: string[] = [];
  list.forEach((entry: unknown, i) => {
    const at = Array.isArray(value) ? [...path, i] : path;
    if (typeof entry !== "string") return problems.invalid(at, entry, expected);
    const why = addressError(entry);
    if (why === undefined) out.push(entry);
    else problems.invalid(at, entry, "a broker address", why);
  });
  // Fail-over rotates host, port and scheme only: one WebSocket path serves every address.
  const paths = new Set(
    out.filter((a) => a.startsWith("ws")).map((a) => new URL(a).pathname),
  );
  if (paths.size > 1) {
    problems.add(path, "every ws:// and wss:// address of a bridge must have the same path");
  }
  return out.length === list.length ? out : undefined;
}

function prefixError(prefix: string): string | undefined {
  if (prefix === "") return undefined;
  if (!prefix.endsWith("/")) return `end it with / (${prefix}/) or leave it empty`;
  if (/[#+]/.test(prefix)) return "a prefix cannot hold the wildcards + or #";
  if (prefix.startsWith("$")) return "a prefix cannot start with $";
  return undefined;
}

function checkPrefix(problems: Problems, path: KeyPath, value: unknown): string | undefined {
  const expected = "a topic prefix ending with / (or empty)";
  if (typeof value !== "string") return void problems.invalid(path, value, expected);
  const why = prefixError(value);
  if (why === undefined) return value;
  problems.invalid(path, value, expected, why);
  return undefined;
}

function checkTopic(problems: Problems, path: KeyPath, value: unknown) {
  if (!isRecord(value)) {
    problems.invalid(
      path,
      value,
      "a map with pattern, direction, qos, local-prefix, remote-prefix",
    );
    return undefined;
  }
  problems.unknownKeys(path, value, TOPIC_KEYS);
  const at = (key: string): KeyPath => [...path, key];
  let ok = true;
  let pattern: string | undefined;
  if (!("pattern" in value)) {
    problems.add(path, "pattern is not given (a topic filter such as sensors/#)");
    ok = false;
  } else {
    pattern = checkString(problems, at("pattern"), value.pattern, "a topic filter");
    const why = pattern === undefined ? undefined : topicFilterError(pattern);
    if (why !== undefined) problems.invalid(at("pattern"), pattern, "a topic filter", why);
    if (pattern === undefined || why !== undefined) ok = false;
  }
  let direction: ResolvedBridgeTopic["direction"] = BRIDGE_DEFAULTS.direction;
  if ("direction" in value) {
    const d = value.direction;
    if (d === "in" || d === "out" || d === "both") direction = d;
    else {
      problems.invalid(at("direction"), d, "in, out or both");
      ok = false;
    }
  }
  let qos: QoS = BRIDGE_DEFAULTS.qos;
  if ("qos" in value) {
    const q = checkInteger(problems, at("qos"), value.qos, 0, 2);
    if (q === undefined) ok = false;
    else qos = q as QoS;
  }
  const prefixes = { "local-prefix": "", "remote-prefix": "" };
  for (const key of ["local-prefix", "remote-prefix"] as const) {
    if (!(key in value)) continue;
    const prefix = checkPrefix(problems, at(key), value[key]);
    if (prefix === undefined) ok = false;
    else prefixes[key] = prefix;
  }
  if (!ok || pattern === undefined) return undefined;
  return {
    pattern,
    direction,
    qos,
    localPrefix: prefixes["local-prefix"],
    remotePrefix: prefixes["remote-prefix"],
  };
}

function checkTopics(problems: Problems, path: KeyPath, value: unknown) {
  if (!Array.isArray(value) || value.length === 0) {
    problems.invalid(path, value, "a non-empty list of topics");
    return undefined;
  }
  const out: ResolvedBridgeTopic[] = [];
  value.forEach((entry: unknown, i) => {
    const topic = checkTopic(problems, [...path, i], entry);
    if (topic) out.push(topic);
  });
  return out.length === value.length ? out : undefined;
}

function checkReconnect(problems: Problems, path: KeyPath, value: unknown, out: CheckedBridge) {
  if (!isRecord(value)) return problems.invalid(path, value, "a map with min and max seconds");
  problems.unknownKeys(path, value, RECONNECT_KEYS);
  if ("min" in value) {
    out.reconnectMinMs = checkSeconds(problems, [...path, "min"], value.min, true);
  }
  if ("max" in value) {
    out.reconnectMaxMs = checkSeconds(problems, [...path, "max"], value.max, true);
  }
  const min = out.reconnectMinMs ?? BRIDGE_DEFAULTS.reconnect.min * 1000;
  const max = out.reconnectMaxMs ?? BRIDGE_DEFAULTS.reconnect.max * 1000;
  if (min > max) {
    problems.add(path, `min (${min / 1000}) is more than max (${max / 1000}): make max >= min`);
  }
}

function checkBridge(problems: Problems, path: KeyPath, name: string, value: unknown) {
  const out: CheckedBridge = { name };
  if (!isRecord(value)) {
    problems.invalid(path, value, "a map of bridge settings");
    return out;
  }
  problems.unknownKeys(path, value, BRIDGE_KEYS);
  const at = (key: string): KeyPath => [...path, key];
  if (!("address" in value)) problems.add(path, "address is not given (e.g. mqtt://host:1883)");
  else out.addresses = checkAddresses(problems, at("address"), value.address);
  if (!("topics" in value)) problems.add(path, "topics is not given (a list of topic patterns)");
  else out.topics = checkTopics(problems, at("topics"), value.topics);
  if ("protocol" in value) {
    if (value.protocol === 4 || value.protocol === 5) out.protocol = value.protocol;
    else problems.invalid(at("protocol"), value.protocol, "5 (MQTT 5.0) or 4 (MQTT 3.1.1)");
  }
  const strings = [
    ["client-id", "clientId", "a client id"],
    ["username", "username", "a user name"],
    ["password", "password", "a password"],
    ["password-file", "passwordFile", "a file path"],
    ["certfile", "certfile", "a file path"],
    ["keyfile", "keyfile", "a file path"],
    ["cafile", "cafile", "a file path"],
  ] as const;
  for (const [key, field, expected] of strings) {
    if (key in value) out[field] = checkString(problems, at(key), value[key], expected);
  }
  if ("password" in value && "password-file" in value) {
    problems.add(path, "give password or password-file, not both");
  }
  if (("certfile" in value) !== ("keyfile" in value)) {
    problems.add(path, "certfile and keyfile go together: give both or neither");
  }
  if ("clean-start" in value) {
    out.cleanStart = checkSwitch(problems, at("clean-start"), value["clean-start"]);
  }
  if ("keepalive" in value) {
    out.keepalive = checkInteger(problems, at("keepalive"), value.keepalive, 0, MAX_TWO_BYTE);
  }
  if ("reconnect" in value) checkReconnect(problems, at("reconnect"), value.reconnect, out);
  if ("notifications" in value) {
    out.notifications = checkSwitch(problems, at("notifications"), value.notifications);
  }
  if ("max-queued-messages" in value) {
    out.maxQueuedMessages = checkInteger(
      problems,
      at("max-queued-messages"),
      value["max-queued-messages"],
      0,
    );
  }
  return out;
}

/** Checks the `bridges` map; bridge names become topic levels, so they are plain words. */
export function checkBridges(problems: Problems, value: unknown): CheckedBridge[] {
  if (value === undefined || value === null) return [];
  if (!isRecord(value)) {
    problems.invalid(["bridges"], value, "a map of named bridges");
    return [];
  }
  return Object.entries(value).map(([name, entry]) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      problems.add(["bridges", name], "a bridge name may hold only letters, digits, _ . and -");
    }
    return checkBridge(problems, ["bridges", name], name, entry);
  });
}

/** Reads each bridge's password and TLS files and applies the defaults. */
export async function resolveBridges(
  bridges: CheckedBridge[],
  baseDir: string,
  files: FileReader,
  problems: Problems,
): Promise<ResolvedBridge[]> {
  const out: ResolvedBridge[] = [];
  for (const b of bridges) {
    const path = ["bridges", b.name];
    const read = async (key: string, file: string | undefined) => {
      if (file === undefined) return undefined;
      const result = await files.read(resolve(baseDir, file));
      if (result.error !== undefined) problems.add([...path, key], result.error);
      return result.text;
    };
    // A password file holds the password on its first line, as Mosquitto's tools write one.
    const passwordText = await read("password-file", b.passwordFile);
    const ca = await read("cafile", b.cafile);
    const cert = await read("certfile", b.certfile);
    const key = await read("keyfile", b.keyfile);
    if (b.addresses === undefined || b.topics === undefined) continue;
    const tls = ca === undefined && cert === undefined ? undefined : { ca, cert, key };
    out.push({
      name: b.name,
      addresses: b.addresses,
      protocol: b.protocol ?? BRIDGE_DEFAULTS.protocol,
      clientId: b.clientId ?? `${BRIDGE_DEFAULTS["client-id-prefix"]}${b.name}`,
      ...(b.username !== undefined && { username: b.username }),
      ...(b.password !== undefined && { password: b.password }),
      ...(passwordText !== undefined && { password: passwordText.split(/\r?\n/)[0] }),
      ...(tls && { tls }),
      cleanStart: b.cleanStart ?? BRIDGE_DEFAULTS["clean-start"],
      keepalive: b.keepalive ?? BRIDGE_DEFAULTS.keepalive,
      topics: b.topics,
      reconnectMinMs: b.reconnectMinMs ?? BRIDGE_DEFAULTS.reconnect.min * 1000,
      reconnectMaxMs: b.reconnectMaxMs ?? BRIDGE_DEFAULTS.reconnect.max * 1000,
      notifications: b.notifications ?? BRIDGE_DEFAULTS.notifications,
      maxQueuedMessages: b.maxQueuedMessages ?? BRIDGE_DEFAULTS["max-queued-messages"],
    });
  }
  return out;
}
