/**
 * From what a user wrote to what the broker runs on: validation, defaults, `default` listener
 * inheritance, and every file read, with all problems reported in one {@link ConfigError}.
 *
 * @module
 */
import { resolve } from "node:path";
import type { Plugin } from "../plugins/types.ts";
import type { BindAddress } from "./bind.ts";
import {
  DEFAULT_BIND_HOST,
  DEFAULT_LIMITS,
  DEFAULT_LISTENER,
  DEFAULT_PORTS,
  DEFAULTS,
} from "./defaults.ts";
import { resolveBridges } from "./bridges.ts";
import { ConfigError } from "./error.ts";
import { resolvePersistence } from "./persistence.ts";
import { FileReader } from "./files.ts";
import { builtinName, moduleUrl } from "./plugins.ts";
import { type KeyPath, Problems } from "./problems.ts";
import { readTls, type TlsSettings } from "./tls.ts";
import type { ListenerType, ResolvedConfig, ResolvedListener } from "./types.ts";
import { checkConfig, type CheckedConfig, type CheckedListener } from "./validate.ts";

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  /**
   * Folder that relative paths (certificates, password file, plugin modules) are relative to:
   * the configuration file's folder. Default: the current working directory.
   */
  baseDir?: string;
}

type ListenerKey = Exclude<keyof CheckedListener, "written">;

const KEY_NAMES: Record<ListenerKey, string> = {
  bind: "bind",
  maxConnections: "max-connections",
  type: "type",
  ssl: "ssl",
  cafile: "cafile",
  capath: "capath",
  cadata: "cadata",
  certfile: "certfile",
  keyfile: "keyfile",
};

/** One listener's settings with `default` merged in, remembering where each was written. */
class MergedListener {
  constructor(
    readonly name: string,
    readonly own: CheckedListener,
    readonly base: CheckedListener | undefined,
  ) {}

  /** The listener that wrote `key`: this one, `default`, or none. */
  origin(key: ListenerKey): string | undefined {
    if (this.own.written.has(KEY_NAMES[key])) return this.name;
    if (this.base?.written.has(KEY_NAMES[key])) return "default";
    return undefined;
  }

  /** Whether `key` was written but its value was invalid (already reported). */
  broken(key: ListenerKey): boolean {
    return this.origin(key) !== undefined && this.get(key) === undefined;
  }

  get<K extends ListenerKey>(key: K): CheckedListener[K] {
    const origin = this.origin(key);
    if (origin === undefined) return undefined;
    return origin === this.name ? this.own[key] : this.base?.[key];
  }

  pathOf(key: ListenerKey): KeyPath {
    return ["listeners", this.origin(key) ?? this.name, KEY_NAMES[key]];
  }
}

function formatAddress({ hostname, port }: BindAddress): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

function defaultPort(type: ListenerType, ssl: boolean): number {
  if (type === "ws") return ssl ? DEFAULT_PORTS.wss : DEFAULT_PORTS.ws;
  if (type === "http") return ssl ? DEFAULT_PORTS.https : DEFAULT_PORTS.http;
  return ssl ? DEFAULT_PORTS.tls : DEFAULT_PORTS.tcp;
}

/** Which entries of `listeners` are listeners: all but `default`, unless it is alone. */
function listenersToStart(entries: [string, CheckedListener][]): MergedListener[] {
  const base = entries.find(([name]) => name === "default")?.[1];
  if (entries.length === 1 && base !== undefined) {
    return [new MergedListener("default", base, undefined)];
  }
  return entries
    .filter(([name]) => name !== "default")
    .map(([name, own]) => new MergedListener(name, own, base));
}

/** The address a listener binds: its own or inherited `bind`, else the default for its kind. */
function bindOf(listener: MergedListener): BindAddress {
  const type = listener.get("type") ?? DEFAULTS.type;
  const ssl = listener.get("ssl") ?? DEFAULTS.ssl;
  return listener.get("bind") ?? { hostname: DEFAULT_BIND_HOST, port: defaultPort(type, ssl) };
}

async function resolveListener(
  listener: MergedListener,
  baseDir: string,
  files: FileReader,
  problems: Problems,
): Promise<ResolvedListener | undefined> {
  const type = listener.get("type") ?? DEFAULTS.type;
  const ssl = listener.get("ssl") ?? DEFAULTS.ssl;
  const bind = bindOf(listener);
  const resolved: ResolvedListener = {
    name: listener.name,
    hostname: bind.hostname,
    port: bind.port,
    type,
    maxConnections: listener.get("maxConnections") ?? DEFAULTS["max-connections"],
  };
  if (!ssl) return resolved;
  let complete = true;
  for (const key of ["certfile", "keyfile"] as const) {
    if (listener.origin(key) === undefined) {
      problems.add(["listeners", listener.name], `ssl is on but ${key} is not given`);
    }
    if (listener.get(key) === undefined) complete = false;
  }
  if (!complete) return undefined;
  const settings: TlsSettings = {
    certfile: listener.get("certfile"),
    keyfile: listener.get("keyfile"),
    cafile: listener.get("cafile"),
    capath: listener.get("capath"),
    cadata: listener.get("cadata"),
    pathOf: (key) => listener.pathOf(key),
  };
  const tls = await readTls(settings, baseDir, files, problems);
  return tls === undefined ? undefined : { ...resolved, tls };
}

async function resolveListeners(
  checked: CheckedConfig,
  baseDir: string,
  files: FileReader,
  problems: Problems,
): Promise<ResolvedListener[]> {
  if (checked.listeners === undefined) {
    return [{ ...DEFAULT_LISTENER, type: "tcp", maxConnections: DEFAULTS["max-connections"] }];
  }
  const out: ResolvedListener[] = [];
  const taken = new Map<string, string>();
  for (const listener of listenersToStart(checked.listeners)) {
    const resolved = await resolveListener(listener, baseDir, files, problems);
    // A bind (or the type and ssl a default bind depends on) that failed its check has been
    // reported; comparing its stand-in would only add a misleading clash.
    const unsure = listener.broken("bind") ||
      (listener.origin("bind") === undefined &&
        (listener.broken("type") || listener.broken("ssl")));
    if (!unsure) {
      const bind = bindOf(listener);
      const address = formatAddress(bind);
      const owner = taken.get(address.toLowerCase());
      if (bind.port !== 0 && owner !== undefined) {
        const origin = listener.origin("bind");
        const how = origin === undefined
          ? " (the default bind; give this listener its own)"
          : origin === listener.name
          ? ""
          : " (inherited from default; give this listener its own)";
        problems.add(
          ["listeners", listener.name, "bind"],
          `${address} is already the address of listener ${owner}${how}`,
        );
      } else if (bind.port !== 0) {
        taken.set(address.toLowerCase(), listener.name);
      }
    }
    if (resolved !== undefined) out.push(resolved);
  }
  return out;
}

async function resolvePasswordFile(
  file: string | undefined,
  baseDir: string,
  files: FileReader,
  problems: Problems,
): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const path = resolve(baseDir, file);
  const result = await files.read(path);
  if (result.error !== undefined) problems.add(["auth", "password-file"], result.error);
  return path;
}

function resolvePlugins(
  plugins: (string | Plugin)[] | undefined,
  baseDir: string,
): (string | Plugin)[] | undefined {
  return plugins?.map((entry) =>
    typeof entry === "string" ? builtinName(entry) ?? moduleUrl(entry, baseDir) : entry
  );
}

/**
 * Validates a configuration (parsed YAML or an embedder's object; undefined or null for none),
 * applies the defaults, merges `default` into every listener and reads every file it names
 * (relative to `options.baseDir`). Rejects with a {@link ConfigError} listing every problem.
 */
export async function resolveConfig(
  input: unknown,
  options: ResolveOptions = {},
): Promise<ResolvedConfig> {
  const baseDir = resolve(options.baseDir ?? "");
  const problems = new Problems();
  const checked = checkConfig(input, problems);
  const files = new FileReader();
  const listeners = await resolveListeners(checked, baseDir, files, problems);
  const passwordFile = await resolvePasswordFile(
    checked.auth.passwordFile,
    baseDir,
    files,
    problems,
  );
  const bridges = await resolveBridges(checked.bridges, baseDir, files, problems);
  const adminUsers = checked.admin.users ?? [];
  if (adminUsers.length > 0 && checked.auth.passwordFile === undefined) {
    problems.add(
      ["admin", "users"],
      "admin users log in with their password from auth.password-file: set auth.password-file",
    );
  }
  if (problems.lines.length > 0) throw new ConfigError(problems.lines);
  return {
    listeners,
    timeoutDisconnectDelayMs: checked.timeoutDisconnectDelayMs ??
      DEFAULTS["timeout-disconnect-delay"] * 1000,
    auth: {
      ...(checked.auth.plugins && { plugins: checked.auth.plugins }),
      allowAnonymous: checked.auth.allowAnonymous ?? DEFAULTS["allow-anonymous"],
      ...(passwordFile !== undefined && { passwordFile }),
    },
    topicCheck: {
      enabled: checked.topicCheck.enabled ?? DEFAULTS["topic-check.enabled"],
      ...(checked.topicCheck.plugins && { plugins: checked.topicCheck.plugins }),
      ...(checked.topicCheck.acl && { acl: checked.topicCheck.acl }),
      ...(checked.topicCheck.publishAcl && { publishAcl: checked.topicCheck.publishAcl }),
      taboo: checked.topicCheck.taboo ?? [...DEFAULTS.taboo],
    },
    sysIntervalMs: checked.sysIntervalMs ?? DEFAULTS.sys_interval * 1000,
    ...(checked.responseTopicPrefix && { responseTopicPrefix: checked.responseTopicPrefix }),
    ...(checked.plugins && { plugins: resolvePlugins(checked.plugins, baseDir) }),
    limits: { ...DEFAULT_LIMITS, ...checked.limits },
    bridges,
    admin: {
      users: adminUsers,
      publicMetrics: checked.admin.publicMetrics ?? DEFAULTS["admin.public-metrics"],
    },
    ...(checked.logLevel && { logLevel: checked.logLevel }),
    logFormat: checked.logFormat ?? DEFAULTS["log-format"],
    ...(checked.persistence && {
      persistence: resolvePersistence(checked.persistence, baseDir),
    }),
    ...(checked.cluster && { cluster: checked.cluster }),
  };
}
