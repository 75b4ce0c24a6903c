/**
 * The `broker` command.
 *
 *   broker [-c FILE] [--host ADDR] [-p PORT] [-v] [--log-level L] [--log-format F]
 *   broker passwd FILE USER [--password P] [-c] [-D] [--scram]
 *   broker example-config
 *   broker store FILE [--move-aside]
 *
 * Runs as `deno run -A src/cli.ts`, `bun src/cli.ts`, `node dist/cli.js`, or the compiled binary.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createBroker } from "./broker/create.ts";
import { loadConfigFile } from "./config/load.ts";
import { ConfigError } from "./config/error.ts";
import type { BrokerConfig } from "./config/types.ts";
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { runPasswd } from "./passwd.ts";
import { StoreError } from "./store/error.ts";
import { runStore } from "./store/command.ts";
import { VERSION } from "./version.ts";

const HELP = `broker ${VERSION}: an MQTT 5.0, 3.1.1 and 3.1 broker

Usage:
  broker [options]                 run the broker
  broker passwd FILE USER [opts]   add, update (-D: delete) a user in a password file
  broker example-config            print the annotated configuration with every key and its
                                   default (broker example-config > broker.yaml)
  broker store FILE                print what a persistence store holds (--move-aside: rename
                                   a damaged store out of the way, to start empty)

Options:
  -c, --config FILE   YAML configuration (every key: broker example-config)
      --host ADDR     address of the default listener (default 127.0.0.1); IPv6 as ::1 or [::1]
  -p, --port PORT     port of the default listener (default 1883)
                      (both set listeners.default.bind: a listener of the configuration file
                      with a bind of its own keeps it, and the broker says so)
  -v, --verbose       log every connection and protocol error (debug level)
      --log-level L   debug, info, warn, error or silent (default: the log-level key, else info)
      --log-format F  text or json (JSON lines; default: the log-format key, else text)
  -h, --help          this text
      --version       print the version

Without a configuration file the broker listens on 127.0.0.1:1883 only. To accept remote
clients, pass --host 0.0.0.0 or give listeners in a configuration file.

Signals: SIGINT/SIGTERM stop the broker; SIGHUP reloads the password file.`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "passwd") return runPasswd(argv.slice(1));
  if (argv[0] === "store") return runStore(argv.slice(1));
  if (argv[0] === "example-config") {
    process.stdout.write(await exampleConfig());
    return 0;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        host: { type: "string" },
        port: { type: "string", short: "p" },
        verbose: { type: "boolean", short: "v" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    }));
  } catch (error) {
    console.error(`broker: ${(error as Error).message}\nTry 'broker --help'.`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(VERSION);
    return 0;
  }
  for (const [flag, allowed] of [["log-level", LOG_LEVELS], ["log-format", LOG_FORMATS]] as const) {
    const value = values[flag];
    if (value !== undefined && !(allowed as readonly string[]).includes(value)) {
      console.error(`broker: --${flag} ${value} is not ${allowed.join(", ")}`);
      return 2;
    }
  }
  let config: BrokerConfig = {};
  let baseDir = process.cwd();
  try {
    if (values.config) {
      const path = resolve(values.config);
      config = await loadConfigFile(path) as BrokerConfig;
      baseDir = dirname(path);
    }
  } catch (error) {
    console.error(`broker: ${(error as Error).message}`);
    return 2;
  }
  // A key with a bad value is reported by createBroker; until then the default applies.
  const keyLevel = LOG_LEVELS.find((l) => l === config["log-level"]);
  const keyFormat = LOG_FORMATS.find((f) => f === config["log-format"]);
  const logger = createLogger(
    (values["log-level"] as LogLevel | undefined) ?? (values.verbose ? "debug" : keyLevel) ??
      "info",
    undefined,
    (values["log-format"] as LogFormat | undefined) ?? keyFormat ?? "text",
  );
  try {
    if (values.host !== undefined || values.port !== undefined) {
      config = withDefaultBind(config, values.host, values.port);
      for (const [name, listener] of Object.entries(config.listeners ?? {})) {
        if (name === "default" || listener.bind === undefined) continue;
        logger.warn(
          `--host/--port set the default listener only: listener ${name} keeps its own bind ` +
            `${listener.bind}`,
        );
      }
    }
  } catch (error) {
    console.error(`broker: ${(error as Error).message}`);
    return 2;
  }
  if (!values.config && values.host === undefined) {
    logger.info(
      "no configuration file: listening on 127.0.0.1 only; use --host 0.0.0.0 or a " +
        "configuration file (-c broker.yaml) to accept remote clients",
    );
  }
  // Listening before the broker starts: a SIGTERM sent as soon as the ready line appears (a
  // service manager's stop) would otherwise kill the process before the broker could close.
  const signalled = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  let broker;
  try {
    broker = await createBroker(config, { logger, baseDir });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`broker: invalid configuration${values.config ? ` in ${values.config}` : ""}:`);
      for (const problem of error.problems) console.error(`  ${problem}`);
      return 2;
    }
    if (error instanceof StoreError) {
      console.error(`broker: ${error.message}`);
      return 2;
    }
    console.error(`broker: ${(error as Error).message}`);
    return 1;
  }
  const running = broker;
  return await new Promise<number>((done) => {
    signalled.then((signal) => {
      logger.info(`${signal}: stopping`);
      // A hung close must not keep a stopping service alive.
      setTimeout(() => done(1), 3000).unref?.();
      running.close().then(() => done(0), () => done(1));
    });
    if (process.platform !== "win32") {
      process.on("SIGHUP", () => {
        logger.info("SIGHUP: reloading plugin files");
        running.reload().then(
          () => logger.info("plugin files reloaded"),
          (error: Error) => logger.error(`reload failed: ${error.message}`),
        );
      });
    }
  });
}

/** Set by `npm run compile`: the single executable has no broker.yaml beside it. */
declare const BROKER_EXAMPLE_CONFIG: string | undefined;

/**
 * The annotated broker.yaml: built into the single executable, read from beside `src/` or
 * `dist/` (the npm package ships it there) everywhere else.
 */
async function exampleConfig(): Promise<string> {
  if (typeof BROKER_EXAMPLE_CONFIG === "string") return BROKER_EXAMPLE_CONFIG;
  return await readFile(new URL("../broker.yaml", import.meta.url), "utf8");
}

/** Applies --host/--port to the `default` listener, which every listener inherits from. */
function withDefaultBind(config: BrokerConfig, host?: string, port?: string): BrokerConfig {
  if (port !== undefined && !/^\d+$/.test(port)) throw new Error(`--port ${port} is not a number`);
  const listeners = { ...config.listeners };
  const current = listeners.default?.bind ?? "127.0.0.1:1883";
  const match = /^(\[.*\]|[^:]*):(\d+)$/.exec(current);
  const oldHost = match ? match[1] : "127.0.0.1";
  const oldPort = match ? match[2] : "1883";
  const bracketed = host?.startsWith("[") ? host : host?.includes(":") ? `[${host}]` : host;
  const newHost = bracketed ?? oldHost;
  listeners.default = { ...listeners.default, bind: `${newHost}:${port ?? oldPort}` };
  return { ...config, listeners };
}

process.exit(await main(process.argv.slice(2)));
