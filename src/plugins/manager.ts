/**
 * The plugin manager: loads plugins, runs their `setup`, asks them about clients and topics, and
 * passes them the broker's events.
 *
 * @module
 */
import process from "node:process";
import { ConfigError } from "../config/error.ts";
import { builtinName, isModuleSpecifier, isPluginObject, moduleUrl } from "../config/plugins.ts";
import { type KeyPath, Problems } from "../config/problems.ts";
import { closest } from "../config/suggest.ts";
import type { ResolvedConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { BUILTIN_PLUGINS, type PluginFactory } from "./builtin/mod.ts";
import { isAnonymous } from "./builtin/common.ts";
import type {
  AuthRequest,
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  Message,
  Plugin,
  PluginContext,
  TopicAction,
  Verdict,
} from "./types.ts";

/** How long a hook may take before it counts as a deny. */
export const DEFAULT_HOOK_TIMEOUT_MS = 5000;

/**
 * Plugins that load by default when the broker passes their factory in `builtins` (they need
 * broker internals, so they do not live here).
 */
export const DEFAULT_ON_BUILTINS: readonly string[] = ["broker_sys"];

/** Tuning for {@link PluginManager.load}. */
export interface PluginManagerOptions {
  /** Milliseconds an async auth or topic hook may take; default {@link DEFAULT_HOOK_TIMEOUT_MS}. */
  hookTimeoutMs?: number;
}

/**
 * The canonical spelling of a plugin name: the seed writes `auth.anonymous` where the entry point
 * is `auth_anonymous`, so dots and underscores are the same.
 */
export function canonicalPluginName(name: string): string {
  return name.replaceAll(".", "_");
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What to import for a `plugins` entry that is a path or URL, or undefined for a plugin name.
 * `resolveConfig` has already made configured paths absolute; a hand-built configuration's
 * relative paths are taken from the working directory.
 */
function importTarget(spec: string): string | undefined {
  return isModuleSpecifier(spec) ? moduleUrl(spec, process.cwd()) : undefined;
}

async function importPlugin(spec: string, url: string, config: ResolvedConfig): Promise<Plugin> {
  let module: { default?: unknown };
  try {
    module = await import(url);
  } catch (e) {
    throw new Error(`plugin ${spec}: cannot import it: ${describe(e)}`, { cause: e });
  }
  const exported = module.default;
  const plugin = typeof exported === "function"
    ? await (exported as PluginFactory)(config)
    : exported;
  if (!isPluginObject(plugin)) {
    throw new Error(
      `plugin ${spec}: its default export must be a plugin object with a name, ` +
        "or a function (config) => plugin",
    );
  }
  return plugin;
}

async function instantiate(
  entry: string | Plugin,
  config: ResolvedConfig,
  registry: Record<string, PluginFactory>,
): Promise<Plugin> {
  if (typeof entry !== "string") {
    if (!isPluginObject(entry)) throw new Error("plugins: an entry is an object without a name");
    return entry;
  }
  const url = importTarget(entry);
  if (url !== undefined) return await importPlugin(entry, url, config);
  const factory = registry[canonicalPluginName(entry)];
  if (factory !== undefined) return await factory(config);
  try {
    return await importPlugin(entry, entry, config);
  } catch (e) {
    throw new Error(
      `plugins: ${JSON.stringify(entry)} is not a built-in plugin ` +
        `(${Object.keys(registry).join(", ")}) nor an importable module; ` +
        `write a path as ./${entry}.ts (${describe(e)})`,
      { cause: e },
    );
  }
}

/** The names loaded when `plugins` is absent from the configuration. */
function defaultEntries(config: ResolvedConfig, callerBuiltins: Record<string, unknown>): string[] {
  const named = (list: string[] | undefined, name: string) =>
    list?.some((n) => canonicalPluginName(n) === name) ?? false;
  const names = ["auth_anonymous"];
  if (config.auth.passwordFile !== undefined || named(config.auth.plugins, "auth_file")) {
    names.push("auth_file");
  }
  names.push("topic_acl");
  if (named(config.topicCheck.plugins, "topic_taboo")) names.push("topic_taboo");
  for (const name of Object.keys(callerBuiltins)) {
    if (DEFAULT_ON_BUILTINS.includes(name)) names.push(name);
  }
  return names;
}

/**
 * The loaded plugins that `names` (an `auth.plugins` or `topic-check.plugins` list, at `key`)
 * asks, or every one with `hook` when the list is absent. A name that is no loaded plugin with
 * that hook is a problem: a deny list that silently shrinks would fail open.
 */
function select(
  plugins: readonly Plugin[],
  names: readonly string[] | undefined,
  key: KeyPath,
  hook: "authenticate" | "topicFiltering",
  problems: Problems,
): Plugin[] {
  const able = plugins.filter((p) => p[hook] !== undefined);
  if (names === undefined) return able;
  const ableNames = able.map((p) => p.name);
  const existing = ableNames.length
    ? `loaded plugins with ${hook}: ${ableNames.join(", ")}`
    : `no loaded plugin has ${hook}`;
  const wanted = new Set<string>();
  names.forEach((name, i) => {
    const canonical = canonicalPluginName(name);
    const plugin = plugins.find((p) => canonicalPluginName(p.name) === canonical);
    const value = JSON.stringify(name);
    if (plugin === undefined) {
      const guess = closest(name, ableNames);
      const why = builtinName(name) !== undefined
        ? `${value} is a built-in that is not loaded: add it to plugins`
        : `${value} is no loaded plugin${guess === undefined ? "" : ` (did you mean ${guess}?)`}`;
      problems.add([...key, i], `${why}; ${existing}`);
    } else if (plugin[hook] === undefined) {
      problems.add([...key, i], `${value} has no ${hook} hook; ${existing}`);
    } else {
      wanted.add(canonical);
    }
  });
  return able.filter((p) => wanted.has(canonicalPluginName(p.name)));
}

function prefixed(logger: Logger, name: string): Logger {
  return {
    debug: (m) => logger.debug(`${name}: ${m}`),
    info: (m) => logger.info(`${name}: ${m}`),
    warn: (m) => logger.warn(`${name}: ${m}`),
    error: (m) => logger.error(`${name}: ${m}`),
  };
}

type Handler = (...args: never[]) => unknown;

/** Loads the plugins and is the broker's one door to them. */
export class PluginManager {
  /** The loaded plugins, in load order. */
  readonly plugins: readonly Plugin[];
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #authPlugins: readonly Plugin[];
  readonly #topicPlugins: readonly Plugin[];
  readonly #topicCheck: boolean;
  readonly #listeners = new Map<BrokerEventName, { plugin: Plugin; handler: Handler }[]>();
  /** Settles every hook still running; teardown calls them so no timer outlives the manager. */
  readonly #pending = new Set<(answer: Verdict) => void>();
  #tornDown = false;

  private constructor(
    config: ResolvedConfig,
    plugins: Plugin[],
    logger: Logger,
    options: PluginManagerOptions,
  ) {
    this.plugins = plugins;
    this.#logger = logger;
    this.#timeoutMs = options.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    const problems = new Problems();
    this.#authPlugins = select(
      plugins,
      config.auth.plugins,
      ["auth", "plugins"],
      "authenticate",
      problems,
    );
    const topicPlugins = select(
      plugins,
      config.topicCheck.plugins,
      ["topic-check", "plugins"],
      "topicFiltering",
      problems,
    );
    if (problems.lines.length) throw new ConfigError(problems.lines);
    this.#topicCheck = config.topicCheck.enabled;
    this.#topicPlugins = this.#topicCheck ? topicPlugins : [];
    if (this.#authPlugins.length === 0) {
      logger.warn(
        "no plugin is asked to authenticate (see plugins and auth.plugins): every client is refused",
      );
    }
    if (this.#topicCheck && topicPlugins.length === 0) {
      logger.warn(
        "topic-check is enabled but no plugin is asked about topics (see plugins and " +
          "topic-check.plugins): every topic is denied",
      );
    }
    for (const plugin of plugins) {
      const on = plugin.on;
      if (on === undefined) continue;
      for (const [event, handler] of Object.entries(on)) {
        if (typeof handler !== "function") continue;
        const name = event as BrokerEventName;
        const list = this.#listeners.get(name) ?? [];
        list.push({ plugin, handler: handler.bind(on) as Handler });
        this.#listeners.set(name, list);
      }
    }
  }

  /**
   * Loads the plugins `config.plugins` names (or the default set), then runs each one's `setup`
   * in order. `builtins` adds plugins by name (the broker passes `broker_sys` this way); those in
   * {@link DEFAULT_ON_BUILTINS} join the default set. If a plugin fails to load or set up, the
   * ones already set up are torn down and the error (naming the plugin) is thrown. A name in
   * `auth.plugins` or `topic-check.plugins` that is no loaded plugin with that hook is a
   * `ConfigError`, thrown before any setup runs.
   */
  static async load(
    config: ResolvedConfig,
    logger: Logger,
    publish: (message: Message) => void,
    builtins: Record<string, PluginFactory> = {},
    options: PluginManagerOptions = {},
  ): Promise<PluginManager> {
    const registry: Record<string, PluginFactory> = { ...BUILTIN_PLUGINS, ...builtins };
    const entries = config.plugins ?? defaultEntries(config, builtins);
    const plugins: Plugin[] = [];
    const names = new Set<string>();
    for (const entry of entries) {
      const plugin = await instantiate(entry, config, registry);
      if (names.has(plugin.name)) throw new Error(`plugins: ${plugin.name} is loaded twice`);
      names.add(plugin.name);
      plugins.push(plugin);
    }
    const manager = new PluginManager(config, plugins, logger, options);
    for (let i = 0; i < plugins.length; i++) {
      const plugin = plugins[i];
      if (plugin.setup === undefined) continue;
      const context: PluginContext = { config, logger: prefixed(logger, plugin.name), publish };
      try {
        await plugin.setup(context);
      } catch (e) {
        await manager.#teardown(plugins.slice(0, i));
        throw new Error(`plugin ${plugin.name}: setup failed: ${describe(e)}`, { cause: e });
      }
    }
    return manager;
  }

  /**
   * Asks the auth plugins about a connecting client: it is admitted only when at least one
   * accepts and none refuses; a hook that throws, rejects or times out refuses, and when every
   * plugin abstains the client is refused too (logged, with what would decide it). A plain
   * boolean when every hook answered synchronously.
   */
  authenticate(request: AuthRequest): boolean | Promise<boolean> {
    return this.#decide(
      this.#authPlugins,
      "authenticate",
      (p) => p.authenticate?.(request),
      () => this.#nobodyAuthenticated(request),
    );
  }

  /**
   * Asks the topic plugins whether `client` may `action` on `topic` (a topic name, or a filter
   * for `subscribe`); always true unless `topic-check.enabled`. Same rule as
   * {@link PluginManager.authenticate}: a topic no plugin allows is denied.
   */
  checkTopic(client: ClientInfo, topic: string, action: TopicAction): boolean | Promise<boolean> {
    if (!this.#topicCheck) return true;
    return this.#decide(
      this.#topicPlugins,
      "topicFiltering",
      (p) => p.topicFiltering?.(client, topic, action),
      () => false,
    );
  }

  #nobodyAuthenticated(request: AuthRequest): false {
    const asked = this.#authPlugins.map((p) => p.name).join(", ") || "none";
    const who = isAnonymous(request.username)
      ? `client ${JSON.stringify(request.clientId)} without a user name`
      : `user ${JSON.stringify(request.username)} (client ${JSON.stringify(request.clientId)})`;
    const fix = isAnonymous(request.username)
      ? "auth_anonymous admits such clients when allow-anonymous is true"
      : "nothing asked verifies user names: set auth.password-file (auth_file) or add an " +
        "auth plugin that checks them";
    this.#logger.info(
      `no auth plugin decided on ${who}, so it is refused (asked: ${asked}); ${fix}`,
    );
    return false;
  }

  /**
   * The rule of {@link PluginManager.authenticate}; `undecided` gives the answer (always false)
   * when every plugin abstained, so the caller can say why.
   */
  #decide(
    plugins: readonly Plugin[],
    hook: string,
    ask: (plugin: Plugin) => Verdict | Promise<Verdict>,
    undecided: () => false,
  ): boolean | Promise<boolean> {
    let pending: Promise<Verdict>[] | undefined;
    let accepted = false;
    for (const plugin of plugins) {
      let verdict: Verdict | Promise<Verdict>;
      try {
        verdict = ask(plugin);
      } catch (e) {
        this.#logger.error(
          `plugin ${plugin.name}: ${hook} threw, counted as a deny: ${describe(e)}`,
        );
        return false;
      }
      if (isThenable(verdict)) (pending ??= []).push(this.#settle(plugin, hook, verdict));
      else if (verdict === false) return false;
      else if (verdict === true) accepted = true;
    }
    if (pending === undefined) return accepted || undecided();
    const all = pending;
    return new Promise((resolve) => {
      let left = all.length;
      let done = false;
      for (const p of all) {
        p.then((verdict) => {
          if (done) return;
          if (verdict === true) accepted = true;
          if (verdict === false || --left === 0) {
            done = true;
            resolve(verdict !== false && (accepted || undecided()));
          }
        });
      }
    });
  }

  /**
   * Resolves to the hook's answer (anything but `true` or `false` abstains), or false if it
   * rejects or outlasts the timeout.
   */
  #settle(plugin: Plugin, hook: string, verdict: PromiseLike<Verdict>): Promise<Verdict> {
    return new Promise((resolve) => {
      const finish = (answer: Verdict) => {
        if (!this.#pending.delete(finish)) return;
        clearTimeout(timer);
        resolve(answer === true || answer === false ? answer : undefined);
      };
      this.#pending.add(finish);
      const timer = setTimeout(() => {
        this.#logger.error(
          `plugin ${plugin.name}: ${hook} took longer than ${this.#timeoutMs} ms, counted as a deny`,
        );
        finish(false);
      }, this.#timeoutMs);
      verdict.then(
        (v) => finish(v),
        (e) => {
          this.#logger.error(
            `plugin ${plugin.name}: ${hook} rejected, counted as a deny: ${describe(e)}`,
          );
          finish(false);
        },
      );
    });
  }

  /** Whether any plugin listens to `event`, so the broker can skip building its arguments. */
  listens(event: BrokerEventName): boolean {
    return this.#listeners.has(event);
  }

  /** Calls every plugin's listener for `event`; never throws, and logs errors and rejections. */
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    for (const { plugin, handler } of list) {
      try {
        const result = (handler as (...a: BrokerEvents[E]) => unknown)(...args);
        if (isThenable(result)) {
          result.then(
            undefined,
            (e) => this.#logger.error(`plugin ${plugin.name}: ${event}: ${describe(e)}`),
          );
        }
      } catch (e) {
        this.#logger.error(`plugin ${plugin.name}: ${event}: ${describe(e)}`);
      }
    }
  }

  /**
   * Calls `reload` on every plugin that has one (the CLI does on SIGHUP). Every plugin is tried;
   * the failures are logged and then thrown together.
   */
  async reload(): Promise<void> {
    const failures: string[] = [];
    for (const plugin of this.plugins) {
      if (plugin.reload === undefined) continue;
      try {
        await plugin.reload();
      } catch (e) {
        const message = `plugin ${plugin.name}: reload failed: ${describe(e)}`;
        this.#logger.error(message);
        failures.push(message);
      }
    }
    if (failures.length) throw new Error(failures.join("; "));
  }

  /**
   * Tears every plugin down, last loaded first, logging errors; hooks still running count as a
   * deny. Safe to call more than once.
   */
  async teardown(): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    for (const finish of [...this.#pending]) finish(false);
    await this.#teardown(this.plugins);
  }

  async #teardown(plugins: readonly Plugin[]): Promise<void> {
    for (const plugin of [...plugins].reverse()) {
      try {
        await plugin.teardown?.();
      } catch (e) {
        this.#logger.error(`plugin ${plugin.name}: teardown failed: ${describe(e)}`);
      }
    }
  }
}
