/**
 * Shared test helpers for the plugin tests: a resolved configuration, a client, a logger that
 * remembers what it was told.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import type { ResolvedConfig } from "../../src/config/types.ts";
import type { Logger } from "../../src/log.ts";
import type { AuthRequest, ClientInfo, PluginContext } from "../../src/plugins/types.ts";
import { PluginManager } from "../../src/plugins/manager.ts";

/** Overrides for {@link makeConfig}. */
export interface ConfigOverrides {
  auth?: Partial<ResolvedConfig["auth"]>;
  topicCheck?: Partial<ResolvedConfig["topicCheck"]>;
  plugins?: ResolvedConfig["plugins"];
}

/** A resolved configuration with the defaults the tests rely on. */
export function makeConfig(overrides: ConfigOverrides = {}): ResolvedConfig {
  return {
    listeners: [],
    timeoutDisconnectDelayMs: 2000,
    auth: { allowAnonymous: true, ...overrides.auth },
    topicCheck: { enabled: false, taboo: [], ...overrides.topicCheck },
    sysIntervalMs: 0,
    plugins: overrides.plugins,
    bridges: [],
    admin: { users: [], publicMetrics: false },
    logFormat: "text",
    limits: {
      maxPacketSize: 1 << 20,
      maxInflightMessages: 20,
      maxQueuedMessages: 1000,
      maxQueuedBytes: 0,
      connectTimeoutMs: 10000,
      maxOutputBytes: 1 << 20,
      writeTimeoutMs: 30000,
      maxRetainedMessages: 0,
      maxRetainedBytes: 0,
      maxSessions: 0,
      maxSubscriptionsPerSession: 0,
      persistentSessionExpiryMs: 0,
      maxSessionExpiryMs: 0,
      maxKeepaliveMs: 0,
      topicAliasMaximum: 0,
    },
  };
}

/** A client as plugins see it. */
export function client(username?: string, clientId = "c1"): ClientInfo {
  return {
    clientId,
    username,
    remoteAddr: { hostname: "127.0.0.1", port: 50000, transport: "tcp" },
    listener: "default",
    cleanSession: true,
    protocolVersion: 4,
  };
}

/** An auth request with a text password. */
export function authRequest(username?: string, password?: string): AuthRequest {
  return {
    ...client(username),
    password: password === undefined ? undefined : new TextEncoder().encode(password),
  };
}

/** A logger that keeps every line, for assertions. */
export interface MemoryLogger extends Logger {
  readonly lines: string[];
}

/** Makes a {@link MemoryLogger}. */
export function memoryLogger(): MemoryLogger {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A plugin context over `config`. */
export function context(config: ResolvedConfig, logger: Logger = memoryLogger()): PluginContext {
  return { config, logger, publish: () => {} };
}

/** Counts turns of the event loop until stopped, to show that other work ran meanwhile. */
export function turnCounter(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let timer = setImmediate(function tick() {
    turns++;
    timer = setImmediate(tick);
  });
  return {
    get turns() {
      return turns;
    },
    stop: () => clearImmediate(timer),
  };
}

/** Loads a plugin manager for `overrides`, with plugins that publish nowhere. */
export function loadManager(
  overrides: ConfigOverrides,
  logger: Logger = memoryLogger(),
  hookTimeoutMs?: number,
): Promise<PluginManager> {
  return PluginManager.load(makeConfig(overrides), logger, () => {}, {}, { hookTimeoutMs });
}
