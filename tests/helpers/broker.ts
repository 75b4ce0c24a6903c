/**
 * Test helpers: a broker on a free loopback port, MQTT.js clients, and a raw client for sending
 * what MQTT.js never would.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { createBroker } from "../../src/broker/create.ts";
import type { Broker } from "../../src/broker/broker.ts";
import type { BrokerConfig } from "../../src/config/types.ts";
import type { Logger } from "../../src/log.ts";

/** A logger that keeps lines for assertions instead of printing them. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => lines.push(`${level} ${message}`);
  return {
    lines,
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
  };
}

/** Starts a broker with one TCP listener on 127.0.0.1 and a free port. */
export async function startBroker(
  config: BrokerConfig = {},
  logger: Logger = memoryLogger(),
): Promise<{ broker: Broker; port: number; url: string }> {
  const broker = await createBroker({
    listeners: { default: { bind: "127.0.0.1:0" } },
    "timeout-disconnect-delay": 0,
    ...config,
  }, { logger });
  const port = broker.listeners[0].port;
  return { broker, port, url: `mqtt://127.0.0.1:${port}` };
}

/** Rejects after `ms` unless `promise` settles first; the timer never outlives the race. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` (which may ask Redis, say) until it is true, for at most `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "a condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A received message. */
export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
}

const received = new WeakMap<mqtt.MqttClient, Received[]>();

/**
 * An MQTT.js client, connected, that never reconnects by itself. Messages are recorded from the
 * start (see {@link collect}): a resumed session's messages can arrive with the CONNACK.
 */
export function connect(url: string, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const out: Received[] = [];
  received.set(client, out);
  client.on("message", (topic, payload, packet) => {
    out.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
    });
  });
  const connected = new Promise<mqtt.MqttClient>((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", reject);
    client.once("close", () => reject(new Error("closed before CONNACK")));
  });
  return within(connected, 6000, "MQTT.js to connect").catch((error) => {
    client.end(true);
    throw error;
  });
}

/** Every message the client (made by {@link connect}) has received, growing as more arrive. */
export function collect(client: mqtt.MqttClient): Received[] {
  const out = received.get(client);
  if (!out) throw new Error("collect() needs a client made by connect()");
  return out;
}

/** A decoded packet from the broker, as mqtt-packet gives it. */
export type Packet = mqttPacket.Packet & Record<string, unknown> & {
  /** 5.0 properties by mqtt-packet's names. */
  properties?: Record<string, unknown>;
};

/** A TCP client speaking raw packets, for what MQTT.js cannot do wrong on purpose. */
export class RawClient {
  readonly packets: Packet[] = [];
  readonly closed: Promise<void>;
  #waiters: (() => void)[] = [];
  #socket: net.Socket;
  #parser: ReturnType<typeof mqttPacket.parser>;

  private constructor(socket: net.Socket, readonly version: 4 | 5) {
    this.#socket = socket;
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on("packet", (packet) => {
      this.packets.push(packet as Packet);
      this.#wake();
    });
    socket.on("data", (chunk) => this.#parser.parse(chunk));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        resolve();
        this.#wake();
      })
    );
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Opens a connection to the broker, to speak MQTT 3.1.1 (or 5.0) in packet objects. */
  static connect(port: number, version: 4 | 5 = 4): Promise<RawClient> {
    return within(
      new Promise((resolve, reject) => {
        const socket = net.connect(
          port,
          "127.0.0.1",
          () => resolve(new RawClient(socket, version)),
        );
        socket.once("error", reject);
      }),
      5000,
      "a TCP connection",
    );
  }

  /** Sends bytes, or a packet object encoded by mqtt-packet. */
  send(packet: Uint8Array | Record<string, unknown>): void {
    const bytes = packet instanceof Uint8Array
      ? packet
      : mqttPacket.generate(packet as unknown as mqttPacket.Packet, {
        protocolVersion: this.version,
      });
    this.#socket.write(Buffer.from(bytes));
  }

  /** CONNECT with the client's version and defaults; resolves with the CONNACK within `ms`. */
  async handshake(fields: Record<string, unknown> = {}, ms?: number): Promise<Packet> {
    this.send({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: this.version,
      clientId: `raw-${Math.random().toString(36).slice(2)}`,
      clean: true,
      keepalive: 0,
      ...fields,
    });
    return await this.next("connack", ms);
  }

  /** The next packet (of command `cmd` if given, skipping none), or rejects after `ms`. */
  async next(cmd?: string, ms = 5000): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      const packet = this.packets.shift();
      if (packet) {
        if (cmd && packet.cmd !== cmd) throw new Error(`expected ${cmd}, got ${packet.cmd}`);
        return packet;
      }
      if (this.#socket.destroyed) {
        throw new Error(`connection closed while waiting for ${cmd ?? "a packet"}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd ?? "a packet"}`);
      await within(
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        left,
        cmd ?? "a packet",
      )
        .catch(() => {});
    }
  }

  /**
   * Resolves once the broker has handled everything sent before (it answers PINGREQ in order),
   * leaving the packets that came before the PINGRESP in {@link RawClient.packets}.
   */
  async settle(): Promise<void> {
    this.send({ cmd: "pingreq" });
    const before: Packet[] = [];
    for (let p = await this.next(); p.cmd !== "pingresp"; p = await this.next()) before.push(p);
    this.packets.unshift(...before);
  }

  /** Resolves when the broker closes the connection, or rejects after `ms`. */
  waitClosed(ms = 5000): Promise<void> {
    return within(this.closed, ms, "the broker to close the connection");
  }

  /** Closes the socket (abruptly: no DISCONNECT). */
  destroy(): void {
    this.#socket.destroy();
  }
}

/** A runtime the broker runs on. */
export type RuntimeName = "deno" | "bun" | "node";

/** The runtime running the tests. */
export function currentRuntime(): RuntimeName {
  return "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
}

/**
 * The command that runs a TypeScript file on `runtime`: by default the one running the tests,
 * else the project's own copy of another (node_modules/.bin).
 */
export function runtimeCommand(
  script: string,
  args: string[] = [],
  runtime: RuntimeName = currentRuntime(),
): [string, string[]] {
  const exe = runtime === currentRuntime()
    ? process.execPath
    : fileURLToPath(new URL(`../../node_modules/.bin/${runtime}`, import.meta.url));
  if (runtime === "deno") return [exe, ["run", "-A", script, ...args]];
  if (runtime === "bun") return [exe, [script, ...args]];
  return [exe, ["--import", "tsx", script, ...args]];
}

/** What a test gets from {@link withBroker}. */
export interface BrokerScope {
  broker: Broker;
  port: number;
  url: string;
  logger: Logger & { lines: string[] };
  /** An MQTT.js client, closed when the test ends. */
  client(options?: mqtt.IClientOptions): Promise<mqtt.MqttClient>;
  /** A raw client (MQTT 3.1.1 unless `version` says 5), closed when the test ends. */
  raw(version?: 4 | 5): Promise<RawClient>;
}

/** Runs `fn` against a fresh broker and closes the broker and every client afterwards. */
export async function withBroker(
  config: BrokerConfig,
  fn: (scope: BrokerScope) => Promise<void>,
): Promise<void> {
  const logger = memoryLogger();
  const { broker, port, url } = await startBroker(config, logger);
  const closers: (() => void)[] = [];
  try {
    await fn({
      broker,
      port,
      url,
      logger,
      client: async (options) => {
        const c = await connect(url, options);
        closers.push(() => c.end(true));
        return c;
      },
      raw: async (version) => {
        const r = await RawClient.connect(port, version);
        closers.push(() => r.destroy());
        return r;
      },
    });
  } finally {
    for (const close of closers) close();
    await broker.close();
  }
}

/** The `broker` command running as a child process. */
export interface RunningCli {
  child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr together. */
  output: () => string;
  exited: Promise<number | null>;
}

const cliPath = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));

/** Starts `src/cli.ts` with `args` on `runtime` (default: the one the tests run on). */
export function startCli(args: string[], runtime?: RuntimeName): RunningCli {
  const [cmd, argv] = runtimeCommand(cliPath, args, runtime);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => output += d);
  child.stderr!.on("data", (d) => output += d);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** A {@link RunningCli} listening on MQTT at `port`. */
export interface ListeningCli extends RunningCli {
  port: number;
}

/** Starts the broker command with config file `config` and waits until it says it listens. */
export async function startCliListening(config: string): Promise<ListeningCli> {
  const broker = startCli(["-c", config]);
  const ready = /ready on mqtt:\/\/127\.0\.0\.1:(\d+)/;
  try {
    await within(
      Promise.race([
        eventually(() => ready.test(broker.output()), 30000, "the broker to listen"),
        broker.exited.then((code) => {
          throw new Error(`broker exited with ${code}: ${broker.output()}`);
        }),
      ]),
      31000,
      "the broker to listen",
    );
  } catch (error) {
    broker.child.kill("SIGKILL");
    throw error;
  }
  return { ...broker, port: Number(ready.exec(broker.output())![1]) };
}

/** Kills the broker command with SIGKILL, as a crash would, and waits until it is gone. */
export async function killCli(broker: RunningCli): Promise<void> {
  broker.child.kill("SIGKILL");
  await within(broker.exited, 10000, "the broker to die");
}

/**
 * Runs `script` (with `args`) on this runtime to its end: resolves with `exit N`, or with
 * "still running after 30 s" once it is killed for not ending. A bound, not a measurement: a
 * handle left open keeps a process alive indefinitely.
 */
export async function runToExit(
  script: string,
  args: string[] = [],
): Promise<{ outcome: string; output: string }> {
  const [cmd, argv] = runtimeCommand(script, args);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => output += d);
  child.stderr!.on("data", (d) => output += d);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await new Promise<string>((resolve) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve("still running after 30 s");
    }, 30_000);
    child.on("close", (code) => resolve(`exit ${code}`));
  });
  clearTimeout(timer);
  return { outcome, output };
}
