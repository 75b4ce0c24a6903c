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
import { Deadlines, describe, isThenable } from "./deadline.ts";
import {
  ALLOW,
  authDenial,
  CONNACK_REFUSAL,
  NOT_AUTHORIZED,
  type RefusalRules,
  topicRefusal,
  VerdictReader,
} from "./decision.ts";
import { type AuthExchangeHandle, ManagedExchange } from "./exchange.ts";
import type {
  AuthRequest,
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  Decision,
  Message,
  Plugin,
  PluginContext,
  TopicAction,
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

/** Why a plugin's enhanced authentication hooks cannot work, or undefined when they can. */
function authMethodsProblem(plugin: Plugin): string | undefined {
  const methods: unknown = plugin.authMethods;
  if (plugin.startAuth === undefined) {
    return methods === undefined ? undefined : "has authMethods but no startAuth to handle them";
  }
  const valid = Array.isArray(methods) && methods.length > 0 &&
    methods.every((m) => typeof m === "string" && m !== "");
  return valid ? undefined : "has startAuth, so authMethods must list the methods it handles";
}

type Hook = "authenticate" | "startAuth" | "topicFiltering";

/**
 * The loaded plugins that `names` (an `auth.plugins` or `topic-check.plugins` list, at `key`)
 * asks, or every one with one of `hooks` when the list is absent. A name that is no loaded
 * plugin with such a hook is a problem: a deny list that silently shrinks would fail open.
 */
function select(
  plugins: readonly Plugin[],
  names: readonly string[] | undefined,
  key: KeyPath,
  hooks: readonly Hook[],
  problems: Problems,
): Plugin[] {
  const has = (p: Plugin) => hooks.some((hook) => p[hook] !== undefined);
  const able = plugins.filter(has);
  if (names === undefined) return able;
  const hook = hooks.join(" or ");
  const ableNames = able.map((p) => p.name);
  const [main, ...others] = hooks;
  const listed = (list: Plugin[]) => list.map((p) => p.name).join(", ");
  const withMain = able.filter((p) => p[main] !== undefined);
  const withOthers = able.filter((p) => p[main] === undefined);
  let existing = withMain.length
    ? `loaded plugins with ${main}: ${listed(withMain)}`
    : `no loaded plugin has ${main}`;
  if (withOthers.length) existing += `; with only ${others.join(" or ")}: ${listed(withOthers)}`;
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
    } else if (!has(plugin)) {
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

/**
 * Asks one plugin; a module-level function, so that a check allocates no closure. `topic` and
 * `action` mean nothing to `authenticate`.
 */
type Ask<S extends ClientInfo> = (
  plugin: Plugin,
  subject: S,
  topic: string,
  action: TopicAction,
) => unknown;
const askAuthenticate: Ask<AuthRequest> = (plugin, request) => plugin.authenticate?.(request);
const askTopic: Ask<ClientInfo> = (plugin, client, topic, action) =>
  plugin.topicFiltering?.(client, topic, action);

const allowed = (decision: Decision) => decision.allow;

/** Loads the plugins and is the broker's one door to them. */
export class PluginManager {
  /** The loaded plugins, in load order. */
  readonly plugins: readonly Plugin[];
  readonly #logger: Logger;
  readonly #deadlines: Deadlines;
  readonly #verdicts: VerdictReader;
  readonly #authPlugins: readonly Plugin[];
  /** The plugin asked for each enhanced authentication method. */
  readonly #methods = new Map<string, Plugin>();
  readonly #topicPlugins: readonly Plugin[];
  readonly #topicCheck: boolean;
  readonly #listeners = new Map<BrokerEventName, { plugin: Plugin; handler: Handler }[]>();
  /** Exchanges not yet over; teardown aborts them. */
  readonly #exchanges = new Set<ManagedExchange>();
  readonly #exchangeEnded = (exchange: ManagedExchange) => void this.#exchanges.delete(exchange);
  #tornDown = false;

  private constructor(
    config: ResolvedConfig,
    plugins: Plugin[],
    logger: Logger,
    options: PluginManagerOptions,
  ) {
    this.plugins = plugins;
    this.#logger = logger;
    this.#deadlines = new Deadlines(options.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS, logger);
    this.#verdicts = new VerdictReader(logger);
    const problems = new Problems();
    const authAsked = select(
      plugins,
      config.auth.plugins,
      ["auth", "plugins"],
      ["authenticate", "startAuth"],
      problems,
    );
    const topicPlugins = select(
      plugins,
      config.topicCheck.plugins,
      ["topic-check", "plugins"],
      ["topicFiltering"],
      problems,
    );
    if (problems.lines.length) throw new ConfigError(problems.lines);
    this.#authPlugins = authAsked.filter((p) => p.authenticate !== undefined);
    for (const plugin of authAsked) {
      for (const method of plugin.startAuth === undefined ? [] : plugin.authMethods ?? []) {
        const first = this.#methods.get(method);
        if (first === undefined) this.#methods.set(method, plugin);
        else {
          logger.warn(
            `authentication method ${JSON.stringify(method)} is handled by ${first.name}, ` +
              `loaded first; ${plugin.name} is not asked for it`,
          );
        }
      }
    }
    this.#topicCheck = config.topicCheck.enabled;
    this.#topicPlugins = this.#topicCheck ? topicPlugins : [];
    if (this.#authPlugins.length === 0) {
      const methods = [...this.#methods.keys()].join(", ");
      logger.warn(
        "no plugin is asked to authenticate (see plugins and auth.plugins): " +
          (methods === ""
            ? "every client is refused"
            : `only clients using enhanced authentication (${methods}) can connect`),
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
      const problem = authMethodsProblem(plugin);
      if (problem !== undefined) throw new Error(`plugin ${plugin.name}: ${problem}`);
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
   * plugin abstains the client is refused too (logged, with what would decide it). The first
   * refusal gives the decision: its reason code if it gave a valid one (a CONNACK code of 0x80
   * or more, a server reference only with 0x9C or 0x9D), else 0x86 for a client with a user name
   * and 0x87 for one without. A plain decision, without a promise, when every hook answered
   * synchronously; the plain answers are shared frozen objects.
   */
  decideAuth(request: AuthRequest): Decision | Promise<Decision> {
    return this.#decide(
      "authenticate",
      this.#authPlugins,
      askAuthenticate,
      request,
      "",
      "publish",
      authDenial(request.username),
      CONNACK_REFUSAL,
    );
  }

  /** {@link PluginManager.decideAuth} without the reason, for MQTT 3.1.1. */
  authenticate(request: AuthRequest): boolean | Promise<boolean> {
    const decision = this.decideAuth(request);
    return decision instanceof Promise ? decision.then(allowed) : decision.allow;
  }

  /**
   * Asks the topic plugins whether `client` may `action` on `topic` (a topic name, or a filter
   * for `subscribe`); always allowed unless `topic-check.enabled`. Same rule as
   * {@link PluginManager.decideAuth}: a topic no plugin allows is denied. A refusal's code is the
   * plugin's if SUBACK (`subscribe`) or PUBACK (`publish`; either for `receive`) may carry it,
   * else 0x87. When every hook answers a plain boolean, this allocates nothing.
   */
  decideTopic(
    client: ClientInfo,
    topic: string,
    action: TopicAction,
  ): Decision | Promise<Decision> {
    if (!this.#topicCheck) return ALLOW;
    return this.#decide(
      "topicFiltering",
      this.#topicPlugins,
      askTopic,
      client,
      topic,
      action,
      NOT_AUTHORIZED,
      topicRefusal(action),
    );
  }

  /** {@link PluginManager.decideTopic} without the reason. */
  checkTopic(client: ClientInfo, topic: string, action: TopicAction): boolean | Promise<boolean> {
    const decision = this.decideTopic(client, topic, action);
    return decision instanceof Promise ? decision.then(allowed) : decision.allow;
  }

  /**
   * Opens an enhanced authentication exchange with the plugin that handles `method` (the first
   * loaded plugin in `auth.plugins`, or among all when that key is absent, that lists it in
   * `authMethods`), or returns undefined when none does: the broker then refuses with 0x8C bad
   * authentication method. `request` is the connecting client, or for `reauthenticate` the
   * connected one with the user name it has. The plugin's `startAuth`, and each step, gets the
   * hook timeout; a throw, a rejection, a timeout or an answer that is no step fails the exchange
   * with 0x87 (see {@link AuthExchangeHandle}).
   */
  startAuthExchange(
    method: string,
    request: AuthRequest,
    reauthenticate = false,
  ): AuthExchangeHandle | undefined {
    const plugin = this.#methods.get(method);
    if (plugin === undefined) return undefined;
    const exchange = new ManagedExchange(plugin, { ...request, method, reauthenticate }, {
      logger: this.#logger,
      deadlines: this.#deadlines,
      verdicts: this.#verdicts,
      ended: this.#exchangeEnded,
    });
    this.#exchanges.add(exchange);
    return exchange;
  }

  /** What a check on which every plugin abstained gives: `deny`, logged for a client. */
  #undecided(hook: Hook, client: ClientInfo, deny: Decision): Decision {
    if (hook !== "authenticate") return deny;
    const asked = this.#authPlugins.map((p) => p.name).join(", ") || "none";
    const who = isAnonymous(client.username)
      ? `client ${JSON.stringify(client.clientId)} without a user name`
      : `user ${JSON.stringify(client.username)} (client ${JSON.stringify(client.clientId)})`;
    const fix = isAnonymous(client.username)
      ? "auth_anonymous admits such clients when allow-anonymous is true"
      : "nothing asked verifies user names: set auth.password-file (auth_file) or add an " +
        "auth plugin that checks them";
    this.#logger.info(
      `no auth plugin decided on ${who}, so it is refused (asked: ${asked}); ${fix}`,
    );
    return deny;
  }

  /**
   * The rule of {@link PluginManager.decideAuth}: `deny` is what a plain refusal (or a failure)
   * means, `rules` the codes a refusal may carry.
   */
  #decide<S extends ClientInfo>(
    hook: "authenticate" | "topicFiltering",
    plugins: readonly Plugin[],
    ask: Ask<S>,
    subject: S,
    topic: string,
    action: TopicAction,
    deny: Decision,
    rules: RefusalRules,
  ): Decision | Promise<Decision> {
    let pending: Promise<Decision | undefined>[] | undefined;
    let accepted = false;
    for (const plugin of plugins) {
      let answer: unknown;
      try {
        answer = ask(plugin, subject, topic, action);
      } catch (e) {
        this.#logger.error(
          `plugin ${plugin.name}: ${hook} threw, counted as a deny: ${describe(e)}`,
        );
        return deny;
      }
      if (isThenable(answer)) {
        const later = this.#deadlines.bound(answer, false, `plugin ${plugin.name}: ${hook}`);
        (pending ??= []).push(
          later.then((a) => this.#verdicts.read(plugin.name, hook, a, deny, rules)),
        );
        continue;
      }
      const decision = this.#verdicts.read(plugin.name, hook, answer, deny, rules);
      if (decision === undefined) continue;
      if (!decision.allow) return decision;
      accepted = true;
    }
    if (pending === undefined) return accepted ? ALLOW : this.#undecided(hook, subject, deny);
    const all = pending;
    return new Promise((resolve) => {
      let left = all.length;
      let done = false;
      for (const p of all) {
        p.then((decision) => {
          if (done) return;
          if (decision?.allow === false) {
            done = true;
            return resolve(decision);
          }
          if (decision !== undefined) accepted = true;
          if (--left === 0) {
            done = true;
            resolve(accepted ? ALLOW : this.#undecided(hook, subject, deny));
          }
        });
      }
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
   * deny, and exchanges still running are aborted first. Safe to call more than once.
   */
  async teardown(): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    for (const exchange of [...this.#exchanges]) exchange.abort();
    this.#deadlines.close();
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
