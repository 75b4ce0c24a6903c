/**
 * The load generator: drives one broker through one scenario and prints one line
 * `RESULT {...LoadResult}` on stdout. Started by scripts/bench.ts as
 * `node --import tsx scripts/bench/loadgen.ts`, with the Job as JSON on stdin, in its own process so
 * that it gets a core of its own. Raw node:net sockets, packets encoded once at start, incoming bytes scanned by
 * fixed header only; payloads are read only where the latency scenario needs its timestamp.
 *
 * Metrics by scenario (the `5` and `v5` variants have the same shapes, every client speaking 5.0):
 * - fanin, fanout: `rate` (messages delivered to subscribers per second)
 * - qos1: `rate`, `acked`, `delivered`, `lost` (acknowledged to a publisher, never delivered),
 *   `unacked`, `inFlight` (per publisher: 100, or a 5.0 broker's smaller Receive Maximum),
 *   `drained` (delivered after publishing stopped: what the broker still held then)
 * - qos1d: qos1's, with the brokers at their default bounds; `lost` then counts the messages
 *   dropped at the queue bound (1,000 messages for both)
 * - shared: `rate` (distinct messages delivered to the members together per second), `delivered`,
 *   `duplicates` (deliveries of a message some member already had), `published` (handed to the
 *   publishers' sockets, so including what was still in socket buffers at the end),
 *   `smallestSharePct` (the least-served member's part of all deliveries; 20 is an even split)
 * - qos1p: qos1's, the subscriber with a session that outlives its connection (clean session 0)
 * - fanout1p: qos1's, all publishers on one topic, 20 such subscribers on it; `rate` counts every
 *   delivery, and `lost` what each subscriber should have got of the acknowledged messages
 * - latency: `p50Ms`, `p99Ms`, `maxMs`, `rate` (delivered per second), `lost`
 * - latencyp: latency's, while a paced QoS 1 load runs into a persistent subscriber (see qos1Load),
 *   plus `loadRate` (its deliveries per second) and `loadLost` (acknowledged, not delivered after
 *   the drain)
 * - idle: `rssPerConnKb`, `rssBeforeKb`, `rssAfterKb`, `connected`, `connectPerSec`
 * - connrate, connrate-auth: `rate` (CONNECT+CONNACK per second), `connections`, `cpuUsPerConn`
 *   (broker CPU time per cycle, in µs: what the broker itself spent, whoever was the limit) and
 *   `userUsPerConn` (the part of it in user space; the rest is the kernel's, for the broker)
 * - storm, storm-auth: `p99Ms` and `maxMs` (the pair's round trip during the storms), `calmP99Ms`
 *   (before them), `endP99Ms` (while each storm's clients DISCONNECT), `samples`,
 *   `slowestStormMs` (first CONNECT to last CONNACK), `refused`
 * - idle50k: `connected` subscribed connections that ping, `rssPerConnKb`, `rssBeforeKb`,
 *   `rssAfterKb`, `connectPerSec`, and `p50Ms`, `p99Ms`, `maxMs` of one QoS 0 publisher →
 *   subscriber pair's round trip while they sit there
 * - bridge: qos1's, with the subscriber on `subscribePorts`, a Mosquitto the broker bridges to
 * - cfanin, cfanout, cqos1: fanin's, fanout's and qos1's, with publishers on `publishPorts` and
 *   subscribers on `subscribePorts` (nodes of a cluster)
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { reasonName } from "../../src/protocol/reason.ts";
import {
  CONNACK,
  type Connack,
  type Credentials,
  DISCONNECT,
  DISCONNECT_TYPE,
  encodeConnect,
  encodePublish,
  encodeSubscribe,
  type PacketHandler,
  PacketScanner,
  payloadStart,
  Property,
  PUBACK,
  PUBLISH,
  readConnack,
  readDisconnect,
  readSuback,
  SUBACK,
  type UserProperty,
  type Version,
  writePuback,
} from "./mqtt.ts";
import { cpuTimes, machineBusySeconds, statusKb } from "./procfs.ts";
import {
  AUTH_SCENARIOS,
  benchCredentials,
  type Job,
  type LoadResult,
  RESULT_PREFIX,
  type ScenarioId,
  type StormRound,
} from "./shared.ts";

const HOST = "127.0.0.1";
const PUBLISHERS = 10;
const FANOUT_SUBSCRIBERS = 20;
const SHARE_MEMBERS = 5;
const SHARED_FILTER = "$share/bench/bench/#";
/** Carried by every fanin5 PUBLISH, so that the broker parses and forwards a property. */
const USER_PROPERTY: UserProperty = ["bench", "fanin5"];
const QOS1_IN_FLIGHT = 100;
const QOS1_REFILL = 10;
/** Packet ids cycle through this many pre-encoded QoS 1 packets; far more than are ever in flight. */
const QOS1_RING = 1000;
/** A flood chunk larger than a socket's high-water mark, so that every write waits for 'drain'. */
const FLOOD_CHUNK_BYTES = 32 * 1024;
const IDLE_CONCURRENCY = 100;
const CONNRATE_CONCURRENCY = 50;
const STORM_ROUNDS = 3;
/** The measured pair's QoS 0 rate during the storm scenario, in messages per second. */
const STORM_PAIR_RATE = 2000;
/** How long the pair is measured before the first storm, for a calm p99 to compare with. */
const STORM_CALM_MS = 500;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 1_000;

/**
 * How a run failed: `brokerDown` (it refused connections or its process is gone: the driver reports
 * a crash), `unsupported` (it refused, or said it lacks, a feature the scenario needs, such as MQTT
 * 5.0 or shared subscriptions), or plain `failed`.
 */
type FailureKind = "failed" | "brokerDown" | "unsupported";

/** The reason a run stopped early; its message goes into the result as is. */
class Failure extends Error {
  readonly kind: FailureKind;

  constructor(message: string, kind: FailureKind = "failed") {
    super(message);
    this.kind = kind;
  }
}

/** 3.1.1 CONNACK return codes, for failure messages. */
const RETURN_CODES = [
  "accepted",
  "unacceptable protocol version",
  "identifier rejected",
  "server unavailable",
  "bad user name or password",
  "not authorized",
];

/** 5.0 reason codes that say the broker lacks what the scenario needs, not that it broke. */
const UNSUPPORTED_CODES = new Set([0x84, 0x9b, 0x9e, 0xa1, 0xa2]);

function why(code: number, reason: string | null): string {
  return `${reasonName(code)} (0x${code.toString(16).padStart(2, "0")})${
    reason === null ? "" : `: ${reason}`
  }`;
}

function connackRefusal(connack: Connack): { message: string; kind: FailureKind } {
  if (connack.v4Form) {
    return {
      message: `CONNACK return code ${connack.code} (${RETURN_CODES[connack.code] ?? "unknown"})`,
      kind: connack.code === 1 ? "unsupported" : "failed",
    };
  }
  const reason = connack.properties.get(Property.REASON_STRING);
  return {
    message: `CONNACK ${why(connack.code, typeof reason === "string" ? reason : null)}`,
    kind: UNSUPPORTED_CODES.has(connack.code) ? "unsupported" : "failed",
  };
}

/** State shared by every client of one run: the first unexpected failure ends the run. */
class Run {
  failure: string | null = null;
  /** Set once measurement is over, so that connections closing during teardown are no failure. */
  stopping = false;
  readonly #onFail = new Set<(error: Failure) => void>();

  fail(reason: string, kind: FailureKind = "failed"): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = reason;
    const error = new Failure(reason, kind);
    for (const reject of this.#onFail) reject(error);
    this.#onFail.clear();
  }

  /** Settles after `ms`, or rejects as soon as the run fails. */
  sleep(ms: number): Promise<void> {
    return this.watch((done) => {
      const timer = setTimeout(done, ms);
      return () => clearTimeout(timer);
    });
  }

  /**
   * Runs `start(done)` and settles when it calls `done`, or rejects when the run fails; `start`
   * returns a cleanup that is called either way.
   */
  watch(start: (done: () => void, reject: (error: Error) => void) => () => void): Promise<void> {
    if (this.failure !== null) return Promise.reject(new Failure(this.failure));
    return new Promise((resolve, reject) => {
      let cleanup = (): void => {};
      const onFail = (error: Failure): void => {
        cleanup();
        reject(error);
      };
      this.#onFail.add(onFail);
      cleanup = start(() => {
        this.#onFail.delete(onFail);
        cleanup();
        resolve();
      }, (error) => {
        this.#onFail.delete(onFail);
        cleanup();
        reject(error);
      });
    });
  }
}

/** Packets every client reads whole: their contents decide whether the run can go on. */
const CONTROL_TYPES = (1 << CONNACK) | (1 << SUBACK) | (1 << DISCONNECT_TYPE);

interface ClientOptions {
  /** 4 (MQTT 3.1.1, the default) or 5 (MQTT 5.0). */
  version?: Version;
  /** Sees every complete packet of the types in `types`. */
  handler?: PacketHandler;
  /** A bit mask, `1 << type`; PUBLISH only by default. */
  types?: number;
  /** A session that outlives the connection (see encodeConnect), so that a store holds its messages. */
  persistent?: boolean;
  /** Logs in with these. */
  credentials?: Credentials;
  /** The source address to connect from (loopback has many: 127.0.0.2 and up). */
  localAddress?: string;
}

/** One MQTT connection of the load generator. */
class Client {
  readonly socket: Socket;
  readonly scanner: PacketScanner;
  readonly version: Version;
  /** Called after each incoming chunk has been scanned, e.g. to send a batch of acks. */
  afterChunk: (() => void) | null = null;
  /** The broker's CONNACK, once it came. */
  connack: Connack | null = null;

  #suback: number[] = [];
  /** What a 5.0 DISCONNECT from the broker said. */
  #disconnect: { message: string; kind: FailureKind } | null = null;
  #closeExpected = false;
  #errorCode = "";
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly run: Run,
    port: number,
    readonly id: string,
    options: ClientOptions = {},
  ) {
    const version = options.version ?? 4;
    const handler = options.handler ?? null;
    this.version = version;
    this.scanner = new PacketScanner(
      (type, flags, buf, start, end) => {
        if ((CONTROL_TYPES & (1 << type)) === 0) handler?.(type, flags, buf, start, end);
        else this.#control(type, buf, start, end);
      },
      CONTROL_TYPES | (handler === null ? 0 : options.types ?? 1 << PUBLISH),
    );
    this.socket = connect({ host: HOST, port, noDelay: true, localAddress: options.localAddress });
    this.socket.on("data", (chunk: Buffer) => {
      try {
        this.scanner.feed(chunk);
      } catch (error) {
        run.fail(`${id}: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      this.afterChunk?.();
      for (const check of this.#waiters) check();
    });
    this.socket.on("error", (error: NodeJS.ErrnoException) => {
      this.#errorCode = error.code ?? error.message;
    });
    this.socket.on("close", () => {
      if (!this.#closeExpected) {
        const refused = this.#errorCode === "ECONNREFUSED";
        const how = refused
          ? "connection refused"
          : this.#disconnect !== null
          ? `disconnected by the broker with ${this.#disconnect.message}`
          : this.#errorCode !== ""
          ? `connection lost (${this.#errorCode})`
          : this.connack === null && version === 5
          ? "connection closed by the broker before CONNACK (does it speak MQTT 5.0?)"
          : "connection closed by the broker";
        run.fail(
          `${how} (client ${id})`,
          refused ? "brokerDown" : this.#disconnect?.kind ?? "failed",
        );
      }
      for (const check of this.#waiters) check();
    });
    // Node queues writes until the socket is connected.
    this.socket.write(encodeConnect(id, 60, version, options));
  }

  #control(type: number, buf: Buffer, start: number, end: number): void {
    if (type === CONNACK) {
      const connack = readConnack(buf, start, end, this.version);
      this.connack = connack;
      if (connack.code !== 0) {
        const refusal = connackRefusal(connack);
        this.run.fail(`client ${this.id}: ${refusal.message}`, refusal.kind);
      }
    } else if (type === SUBACK) {
      this.#suback = readSuback(buf, start, end, this.version);
    } else if (this.version === 5) {
      const { code, reason } = readDisconnect(buf, start, end);
      this.#disconnect = {
        message: `DISCONNECT ${why(code, reason)}`,
        kind: UNSUPPORTED_CODES.has(code) ? "unsupported" : "failed",
      };
    }
  }

  /** A 5.0 CONNACK property, or `fallback` when absent (as it always is in 3.1.1). */
  property(id: number, fallback: number): number {
    const value = this.connack?.properties.get(id);
    return typeof value === "number" ? value : fallback;
  }

  /** Waits until `count` packets of `type` have arrived in all. */
  until(type: number, count: number, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<void> {
    if (this.scanner.counts[type] >= count) return Promise.resolve();
    return this.run.watch((done, reject) => {
      const check = (): void => {
        if (this.scanner.counts[type] >= count) done();
        else if (this.socket.destroyed) {
          reject(new Failure(`client ${this.id} closed while waiting`));
        }
      };
      const timer = setTimeout(
        () =>
          reject(
            new Failure(`client ${this.id}: no answer (packet type ${type}) in ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.#waiters.add(check);
      return () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
    });
  }

  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    await this.until(CONNACK, 1);
    const shared = filter.startsWith("$share/");
    if (shared && this.property(Property.SHARED_SUBSCRIPTION_AVAILABLE, 1) === 0) {
      throw new Failure("CONNACK says Shared Subscription Available: 0", "unsupported");
    }
    if (/[#+]/.test(filter) && this.property(Property.WILDCARD_SUBSCRIPTION_AVAILABLE, 1) === 0) {
      throw new Failure("CONNACK says Wildcard Subscription Available: 0", "unsupported");
    }
    this.socket.write(encodeSubscribe(1, filter, qos, this.version));
    await this.until(SUBACK, 1);
    const code = this.#suback[0] ?? 0x80;
    if (code >= 0x80) {
      // 3.1.1 has one refusal code: refusing a shared filter there means not supporting it.
      const unsupported = this.version === 4 ? shared : UNSUPPORTED_CODES.has(code);
      throw new Failure(
        `client ${this.id}: SUBACK refused ${filter} with ${
          this.version === 4 ? "0x80" : why(code, null)
        }`,
        unsupported ? "unsupported" : "failed",
      );
    }
  }

  /** DISCONNECT, close our side, and wait (bounded) for the broker to close its side. */
  disconnect(): Promise<void> {
    this.#closeExpected = true;
    this.socket.end(DISCONNECT);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  destroy(): void {
    this.#closeExpected = true;
    this.socket.destroy();
  }
}

function payload(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 0x61 + (i % 26);
  return out;
}

function repeat(packet: Buffer): Buffer {
  const packets = Math.max(1, Math.ceil(FLOOD_CHUNK_BYTES / packet.length));
  return Buffer.concat(Array.from({ length: packets }, () => packet));
}

/** Writes `chunk` again each time the socket drains, until the run stops. */
function flood(client: Client, chunk: Buffer): void {
  const pump = (): void => {
    // Bounded per turn so that incoming data is read between writes.
    for (let k = 0; k < 16; k++) {
      if (client.run.stopping || client.run.failure !== null || client.socket.destroyed) return;
      if (!client.socket.write(chunk)) return;
    }
    setImmediate(pump);
  };
  client.socket.on("drain", pump);
  pump();
}

interface Snapshot {
  at: number;
  count: number;
  /** The broker's CPU seconds, user and system. */
  broker: number;
  /** The part of {@link Snapshot.broker} in user space. */
  brokerUser: number;
  machine: number;
  self: NodeJS.CpuUsage;
}

function snapshot(job: Job, count: number): Snapshot {
  let broker = 0;
  let brokerUser = 0;
  try {
    for (const pid of [job.brokerPid, ...job.peerPids ?? []]) {
      const { user, system } = cpuTimes(pid);
      broker += user + system;
      brokerUser += user;
    }
  } catch {
    throw new Failure("broker process is gone", "brokerDown");
  }
  return {
    at: performance.now(),
    count,
    broker,
    brokerUser,
    machine: machineBusySeconds(),
    self: process.cpuUsage(),
  };
}

interface Window {
  rate: number;
  brokerCpuPct: number;
  loadgenCpuPct: number;
  otherCpuPct: number;
}

function between(a: Snapshot, b: Snapshot): Window {
  const seconds = (b.at - a.at) / 1000;
  const self = process.cpuUsage(a.self);
  const brokerCpuPct = (100 * (b.broker - a.broker)) / seconds;
  const loadgenCpuPct = (100 * (self.user + self.system)) / 1e6 / seconds;
  const machineCpuPct = (100 * (b.machine - a.machine)) / seconds;
  return {
    rate: (b.count - a.count) / seconds,
    brokerCpuPct,
    loadgenCpuPct,
    otherCpuPct: Math.max(0, machineCpuPct - brokerCpuPct - loadgenCpuPct),
  };
}

/**
 * Warm-up, then the measurement window over `count()`; `nothing`, if given, is thrown when the
 * warm-up counted nothing, rather than measuring a window that would count nothing too.
 */
async function measure(
  run: Run,
  job: Job,
  count: () => number,
  nothing?: () => Failure,
): Promise<Window> {
  await run.sleep(job.warmupMs);
  if (nothing !== undefined && count() === 0) throw nothing();
  const a = snapshot(job, count());
  await run.sleep(job.windowMs);
  return between(a, snapshot(job, count()));
}

/** The port subscriber `i` connects to. */
function subscribePort(job: Job, i: number): number {
  const ports = job.subscribePorts ?? [job.port];
  return ports[i % ports.length];
}

/** The port publisher `i` connects to. */
function publishPort(job: Job, i: number): number {
  const ports = job.publishPorts ?? [job.port];
  return ports[i % ports.length];
}

/** Lets the subscriptions reach the other nodes of a cluster before anything is published. */
async function settle(run: Run, job: Job): Promise<void> {
  if ((job.settleMs ?? 0) > 0) await run.sleep(job.settleMs!);
}

function sum(clients: Client[], type: number): number {
  let total = 0;
  for (const client of clients) total += client.scanner.counts[type];
  return total;
}

async function connectAll(clients: Client[]): Promise<void> {
  await Promise.all(clients.map((client) => client.until(CONNACK, 1)));
}

interface Throughput {
  fanout: boolean;
  version: Version;
  /** Carried by every PUBLISH (5.0 only). */
  userProperty?: UserProperty;
}

async function throughput(run: Run, job: Job, shape: Throughput): Promise<LoadResult> {
  const { fanout, version } = shape;
  const userProperty = shape.userProperty ?? null;
  const subscribers = Array.from(
    { length: fanout ? FANOUT_SUBSCRIBERS : 1 },
    (_, i) => new Client(run, subscribePort(job, i), `bench-sub-${i}`, { version }),
  );
  await Promise.all(subscribers.map((s) => s.subscribe(fanout ? "bench/fanout" : "bench/#", 0)));
  await settle(run, job);
  const publishers = Array.from(
    { length: PUBLISHERS },
    (_, i) => new Client(run, publishPort(job, i), `bench-pub-${i}`, { version }),
  );
  await connectAll(publishers);
  const body = payload(job.payloadBytes);
  const packets = publishers.map((_, i) =>
    encodePublish(fanout ? "bench/fanout" : `bench/${i}`, body, 0, 0, version, userProperty)
  );
  publishers.forEach((client, i) => flood(client, repeat(packets[i])));
  const window = await measure(run, job, () => sum(subscribers, PUBLISH));
  run.stopping = true;
  // A scanner out of step with the stream would count garbage; it cannot count more than was sent.
  const size = packets[0].length;
  const published = publishers.reduce((total, client) => total + client.socket.bytesWritten, 0) /
    size;
  const delivered = sum(subscribers, PUBLISH);
  if (delivered > published * subscribers.length) {
    throw new Failure(
      `counted more deliveries than ${published} publishes × ${subscribers.length}`,
    );
  }
  // A delivery is the published packet byte for byte; deliveries that average nearer the size
  // without the user property than with it have lost it.
  if (userProperty !== null) {
    const bare = encodePublish("bench/0", body, 0, 0, version).length;
    const received = subscribers.reduce((total, client) => total + client.socket.bytesRead, 0);
    if (received < delivered * (size + bare) / 2) {
      throw new Failure(
        `deliveries average ${(received / delivered).toFixed(0)} bytes; each PUBLISH sent had ` +
          `${size}, ${bare} without its user property: the broker drops it (5.0 says forward it)`,
      );
    }
  }
  return {
    status: "ok",
    metrics: { rate: window.rate },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

/** A subscriber that acknowledges every QoS 1 message it gets, one write per incoming chunk. */
function ackingSubscriber(
  run: Run,
  port: number,
  id: string,
  version: Version,
  persistent: boolean,
): Client {
  const acks: number[] = [];
  const subscriber = new Client(run, port, id, {
    version,
    persistent,
    handler: (_type, flags, buf, start) => {
      if ((flags & 6) === 0) return;
      const topicLength = (buf[start] << 8) | buf[start + 1];
      acks.push((buf[start + 2 + topicLength] << 8) | buf[start + 3 + topicLength]);
    },
  });
  subscriber.afterChunk = () => {
    if (acks.length === 0) return;
    const out = Buffer.allocUnsafe(4 * acks.length);
    for (let i = 0; i < acks.length; i++) writePuback(out, 4 * i, acks[i]);
    acks.length = 0;
    subscriber.socket.write(out);
  };
  return subscriber;
}

/**
 * A QoS 1 publisher on one topic, cycling through pre-encoded packet ids; `inFlight` is what the
 * broker has not acknowledged yet.
 */
class Qos1Publisher {
  readonly client: Client;
  inFlight = 0;
  /** Called after each incoming chunk, once `inFlight` counts its acknowledgements. */
  onAcks: () => void = () => {};
  readonly #ring: Buffer;
  readonly #size: number;
  #next = 0;
  #seenAcks = 0;

  constructor(run: Run, port: number, id: string, topic: string, body: Buffer, version: Version) {
    // A 5.0 PUBACK longer than 2 bytes carries a reason code: 0x80 and above is a refusal.
    const refusals = version === 5
      ? {
        types: 1 << PUBACK,
        handler: ((_type, _flags, buf, start, end) => {
          if (end - start > 2 && buf[start + 2] >= 0x80) {
            run.fail(`PUBACK ${why(buf[start + 2], null)}`);
          }
        }) satisfies PacketHandler,
      }
      : {};
    this.client = new Client(run, port, id, { version, ...refusals });
    const packets = Array.from(
      { length: QOS1_RING },
      (_, k) => encodePublish(topic, body, 1, k + 1, version),
    );
    this.#size = packets[0].length;
    this.#ring = Buffer.concat(packets);
    this.client.afterChunk = () => {
      const acked = this.acked;
      this.inFlight -= acked - this.#seenAcks;
      this.#seenAcks = acked;
      this.onAcks();
    };
  }

  get acked(): number {
    return this.client.scanner.counts[PUBACK];
  }

  send(n: number): void {
    let left = n;
    while (left > 0) {
      const take = Math.min(left, QOS1_RING - this.#next);
      this.client.socket.write(
        this.#ring.subarray(this.#next * this.#size, (this.#next + take) * this.#size),
      );
      this.#next = (this.#next + take) % QOS1_RING;
      left -= take;
    }
    this.inFlight += n;
  }
}

/** Ten connected QoS 1 publishers, publisher i on `topic(i)`, and how many each may keep in flight. */
async function qos1Publishers(
  run: Run,
  job: Job,
  version: Version,
  prefix: string,
  topic: (i: number) => string,
): Promise<{ publishers: Qos1Publisher[]; inFlightLimit: number }> {
  const body = payload(job.payloadBytes);
  const publishers = Array.from(
    { length: PUBLISHERS },
    (_, i) =>
      new Qos1Publisher(run, publishPort(job, i), `${prefix}-${i}`, topic(i), body, version),
  );
  await connectAll(publishers.map((p) => p.client));
  let inFlightLimit = QOS1_IN_FLIGHT;
  for (const { client } of publishers) {
    if (client.property(Property.MAXIMUM_QOS, 1) === 0) {
      throw new Failure("CONNACK says Maximum QoS: 0", "unsupported");
    }
    // A 5.0 broker's Receive Maximum bounds what a publisher may have in flight.
    inFlightLimit = Math.min(inFlightLimit, client.property(Property.RECEIVE_MAXIMUM, 65_535));
  }
  return { publishers, inFlightLimit };
}

/** What a QoS 1 run has acknowledged, delivered and left in flight, summed over its clients. */
interface Qos1Counts {
  acked(): number;
  /** Deliveries that `acked()` promises: each acknowledged message once per subscriber. */
  expected(): number;
  delivered(): number;
  inFlight(): number;
}

function qos1Counts(publishers: Qos1Publisher[], subscribers: Client[]): Qos1Counts {
  const acked = (): number => publishers.reduce((total, p) => total + p.acked, 0);
  return {
    acked,
    expected: () => acked() * subscribers.length,
    delivered: () => sum(subscribers, PUBLISH),
    inFlight: () => publishers.reduce((total, p) => total + p.inFlight, 0),
  };
}

/** Once publishing stopped: waits, at most `job.drainMs`, for deliveries to catch up. */
async function drain(run: Run, job: Job, counts: Qos1Counts): Promise<void> {
  const drainEnd = performance.now() + job.drainMs;
  while (
    performance.now() < drainEnd &&
    (counts.inFlight() > 0 || counts.delivered() < counts.expected())
  ) {
    await run.sleep(50);
  }
}

interface Qos1Shape {
  version: Version;
  /** 1: publisher i on bench/i, the subscriber on bench/#; more: everyone on bench/fanout. */
  subscribers: number;
  /** Subscribers whose sessions outlive their connections. */
  persistent: boolean;
}

async function qos1(run: Run, job: Job, shape: Qos1Shape): Promise<LoadResult> {
  const { version } = shape;
  const fanout = shape.subscribers > 1;
  const subscribers = Array.from(
    { length: shape.subscribers },
    (_, i) =>
      ackingSubscriber(
        run,
        subscribePort(job, i),
        `bench-sub-${i}`,
        version,
        shape.persistent,
      ),
  );
  await Promise.all(subscribers.map((s) => s.subscribe(fanout ? "bench/fanout" : "bench/#", 1)));
  await settle(run, job);
  const { publishers, inFlightLimit } = await qos1Publishers(
    run,
    job,
    version,
    "bench-pub",
    (i) => fanout ? "bench/fanout" : `bench/${i}`,
  );
  let publishing = true;
  const refill = Math.min(QOS1_REFILL, inFlightLimit);
  for (const p of publishers) {
    // Topping up in batches keeps the write count, and so the load generator's CPU, down.
    p.onAcks = () => {
      if (publishing && inFlightLimit - p.inFlight >= refill) p.send(inFlightLimit - p.inFlight);
    };
    p.send(inFlightLimit);
  }
  const counts = qos1Counts(publishers, subscribers);
  const window = await measure(run, job, counts.delivered);
  publishing = false;
  const deliveredAtStop = counts.delivered();
  await drain(run, job, counts);
  run.stopping = true;
  return {
    status: "ok",
    metrics: {
      rate: window.rate,
      acked: counts.acked(),
      delivered: counts.delivered(),
      lost: Math.max(0, counts.expected() - counts.delivered()),
      unacked: counts.inFlight(),
      inFlight: inFlightLimit,
      drained: counts.delivered() - deliveredAtStop,
    },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

/** Which message numbers of each publisher some member has received: one bit per message. */
class Seen {
  readonly #bits: Uint32Array[];

  constructor(publishers: number) {
    this.#bits = Array.from({ length: publishers }, () => new Uint32Array(1 << 12));
  }

  /** Marks message `seq` of `publisher`; false if it was marked already. */
  add(publisher: number, seq: number): boolean {
    let bits = this.#bits[publisher];
    const word = seq >>> 5;
    if (word >= bits.length) {
      const grown = new Uint32Array(Math.max(bits.length * 2, word + 1));
      grown.set(bits);
      this.#bits[publisher] = bits = grown;
    }
    const bit = 1 << (seq & 31);
    if ((bits[word] & bit) !== 0) return false;
    bits[word] |= bit;
    return true;
  }
}

/** Chunks in use per publisher of numbered messages: one being written, the rest being refilled. */
const NUMBERED_CHUNKS = 4;

/**
 * Like {@link flood}, but every message carries its publisher's index (1 byte) and a sequence number
 * (4 bytes) at the start of its payload. A chunk is refilled only once the socket is done with it,
 * so that no number goes out twice. Returns how many messages have been numbered so far.
 */
function numberedFlood(
  client: Client,
  index: number,
  packet: Buffer,
  stampAt: number,
): () => number {
  const template = repeat(packet);
  const size = packet.length;
  const perChunk = template.length / size;
  for (let k = 0; k < perChunk; k++) template[k * size + stampAt] = index;
  const free: Buffer[] = Array.from({ length: NUMBERED_CHUNKS }, () => Buffer.from(template));
  let seq = 0;
  let starved = false;
  const pump = (): void => {
    for (let k = 0; k < 16; k++) {
      if (client.run.stopping || client.run.failure !== null || client.socket.destroyed) return;
      const chunk = free.pop();
      if (chunk === undefined) {
        starved = true;
        return;
      }
      for (let m = 0; m < perChunk; m++) chunk.writeUInt32BE(seq++, m * size + stampAt + 1);
      if (!client.socket.write(chunk, () => release(chunk))) return;
    }
    setImmediate(pump);
  };
  const release = (chunk: Buffer): void => {
    free.push(chunk);
    if (starved) {
      starved = false;
      pump();
    }
  };
  client.socket.on("drain", pump);
  pump();
  return () => seq;
}

/**
 * QoS 0 into one shared subscription: 10 publishers on bench/N, 5 members on $share/bench/bench/#.
 * QoS 0 measures routing and the choice of member, which is what shared subscriptions add; QoS 1
 * would measure acknowledgements again, as qos1 does.
 */
async function shared(run: Run, job: Job, version: Version): Promise<LoadResult> {
  const seen = new Seen(PUBLISHERS);
  const perMember = new Float64Array(SHARE_MEMBERS);
  const numbered: (() => number)[] = [];
  let distinct = 0;
  let duplicates = 0;
  const members = Array.from(
    { length: SHARE_MEMBERS },
    (_, m) =>
      new Client(run, job.port, `bench-member-${m}`, {
        version,
        handler: (_type, flags, buf, start) => {
          const at = payloadStart(buf, start, flags, version);
          const publisher = buf[at];
          const seq = buf.readUInt32BE(at + 1);
          if (publisher >= numbered.length || seq >= numbered[publisher]()) {
            run.fail(`member ${m} got message ${publisher}/${seq}, which nobody sent`);
            return;
          }
          perMember[m]++;
          if (seen.add(publisher, seq)) distinct++;
          else duplicates++;
        },
      }),
  );
  await Promise.all(members.map((member) => member.subscribe(SHARED_FILTER, 0)));
  const publishers = Array.from(
    { length: PUBLISHERS },
    (_, i) => new Client(run, job.port, `bench-pub-${i}`, { version }),
  );
  await connectAll(publishers);
  const body = payload(job.payloadBytes);
  publishers.forEach((client, i) => {
    const packet = encodePublish(`bench/${i}`, body, 0, 0, version);
    numbered.push(numberedFlood(client, i, packet, packet.length - body.length));
  });
  const window = await measure(run, job, () => distinct, () =>
    new Failure(
      `SUBACK granted ${SHARED_FILTER} but no message reached a member in the warm-up: ` +
        "is it an ordinary filter to this broker?",
      "unsupported",
    ));
  run.stopping = true;
  const deliveries = perMember.reduce((total, n) => total + n, 0);
  return {
    status: "ok",
    metrics: {
      rate: window.rate,
      delivered: distinct,
      duplicates,
      published: numbered.reduce((total, n) => total + n(), 0),
      smallestSharePct: (100 * Math.min(...perMember)) / deliveries,
    },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** A QoS 1 load running beside a measurement, and what it counted. */
interface Qos1Load extends Qos1Counts {
  stop(): void;
}

/**
 * latencyp's load: ten publishers on bench/load/N at `job.loadRate` in all, into one persistent
 * acking subscriber on bench/load/#. Paced rather than as fast as acknowledgements come back, so
 * that it loads a broker with and without a store alike and a slower commit shows as latency, not
 * as a lighter load; a publisher never has more in flight than in qos1, and falls behind (the
 * rate it reached is reported) rather than catching up in a burst.
 */
async function qos1Load(run: Run, job: Job): Promise<Qos1Load> {
  const subscriber = ackingSubscriber(run, job.port, "bench-load-sub", 4, true);
  await subscriber.subscribe("bench/load/#", 1);
  const { publishers, inFlightLimit } = await qos1Publishers(
    run,
    job,
    4,
    "bench-load-pub",
    (i) => `bench/load/${i}`,
  );
  const owed = new Float64Array(PUBLISHERS);
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    const due = ((now - last) * job.loadRate) / PUBLISHERS / 1000;
    last = now;
    publishers.forEach((p, i) => {
      const room = inFlightLimit - p.inFlight;
      owed[i] = Math.min(owed[i] + due, room);
      const n = Math.floor(owed[i]);
      if (n > 0) p.send(n);
      owed[i] -= n;
    });
  }, 1);
  return { ...qos1Counts(publishers, [subscriber]), stop: () => clearInterval(tick) };
}

/**
 * One QoS 0 pair on bench/latency at `job.latencyRate`; `withLoad`: while {@link qos1Load} runs,
 * whose delivery rate (`loadRate`) and losses after the drain (`loadLost`) are reported too.
 */
async function latency(run: Run, job: Job, withLoad: boolean): Promise<LoadResult> {
  const capacity = Math.ceil((job.latencyRate * job.windowMs) / 1000 * 1.5) + 1000;
  const samples = new Float64Array(capacity);
  let recorded = 0;
  let recording = false;
  let received = 0;
  const subscriber = new Client(run, job.port, "bench-sub-0", {
    handler: (_type, flags, buf, start) => {
      received++;
      if (!recording || recorded >= capacity) return;
      samples[recorded++] = performance.now() -
        buf.readDoubleLE(payloadStart(buf, start, flags, 4));
    },
  });
  await subscriber.subscribe("bench/latency", 0);
  const publisher = new Client(run, job.port, "bench-pub-0");
  await publisher.until(CONNACK, 1);
  const load = withLoad ? await qos1Load(run, job) : null;

  const template = encodePublish("bench/latency", payload(job.payloadBytes), 0, 0, 4);
  const size = template.length;
  const stampAt = size - job.payloadBytes;
  const start = performance.now();
  let sent = 0;
  let behind = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    const due = Math.min(
      Math.floor(((now - start) * job.latencyRate) / 1000) - sent,
      job.latencyRate,
    );
    if (due <= 0) return;
    if (publisher.socket.writableLength > 1 << 20) {
      behind++;
      return;
    }
    const batch = Buffer.allocUnsafe(due * size);
    for (let k = 0; k < due; k++) {
      template.copy(batch, k * size);
      batch.writeDoubleLE(now, k * size + stampAt);
    }
    publisher.socket.write(batch);
    sent += due;
  }, 1);
  try {
    await run.sleep(job.warmupMs);
    recording = true;
    const a = snapshot(job, received);
    const loadBefore = load?.delivered() ?? 0;
    await run.sleep(job.windowMs);
    recording = false;
    const b = snapshot(job, received);
    const window = between(a, b);
    const loadRate = ((load?.delivered() ?? 0) - loadBefore) / ((b.at - a.at) / 1000);
    clearInterval(tick);
    load?.stop();
    await run.sleep(300);
    if (load !== null) await drain(run, job, load);
    run.stopping = true;
    const sorted = samples.subarray(0, recorded).sort();
    return {
      status: "ok",
      metrics: {
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        maxMs: recorded === 0 ? NaN : sorted[recorded - 1],
        rate: window.rate,
        lost: Math.max(0, sent - received),
        stalledTicks: behind,
        ...(load !== null && {
          loadRate,
          loadLost: Math.max(0, load.expected() - load.delivered()),
        }),
      },
      brokerCpuPct: window.brokerCpuPct,
      loadgenCpuPct: window.loadgenCpuPct,
      otherCpuPct: window.otherCpuPct,
    };
  } finally {
    clearInterval(tick);
    load?.stop();
  }
}

function rssKb(job: Job): number {
  try {
    return statusKb(job.brokerPid, "VmRSS");
  } catch {
    throw new Failure("broker process is gone", "brokerDown");
  }
}

/**
 * Opens `count` connections, `concurrency` at a time: each is made by `make(n)` and kept, then
 * `ready` awaited before the next. Resolves with them and the seconds it took.
 */
async function openConnections(
  run: Run,
  count: number,
  concurrency: number,
  make: (n: number) => Client,
  ready: (client: Client, n: number) => Promise<unknown>,
): Promise<{ clients: Client[]; connectSeconds: number }> {
  const clients: Client[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count && run.failure === null) {
      const n = next++;
      const client = make(n);
      clients.push(client);
      await ready(client, n);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { clients, connectSeconds: (performance.now() - started) / 1000 };
}

async function idle(run: Run, job: Job): Promise<LoadResult> {
  const before = rssKb(job);
  const { clients, connectSeconds } = await openConnections(
    run,
    job.idleConnections,
    IDLE_CONCURRENCY,
    (n) => new Client(run, job.port, `bench-idle-${n}`),
    (client) => client.until(CONNACK, 1),
  );
  // Let the broker finish lazy allocations and a GC cycle before reading its RSS.
  const a = snapshot(job, 0);
  await run.sleep(Math.min(1000, job.windowMs));
  const window = between(a, snapshot(job, 0));
  const after = rssKb(job);
  run.stopping = true;
  for (const client of clients) client.destroy();
  return {
    status: "ok",
    metrics: {
      rssPerConnKb: (after - before) / clients.length,
      rssBeforeKb: before,
      rssAfterKb: after,
      connected: clients.length,
      connectPerSec: clients.length / connectSeconds,
    },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

/** The options that log a client in when the scenario is one of the {@link AUTH_SCENARIOS}. */
function login(job: Job, i: number): ClientOptions {
  return AUTH_SCENARIOS.has(job.scenario) ? { credentials: benchCredentials(i) } : {};
}

/** Source addresses get this many connections each, well inside the ephemeral port range. */
const PER_SOURCE_ADDRESS = 10_000;
/** Every idle50k connection sends a PINGREQ this often, its keepalive being twice as long. */
const IDLE_PING_MS = 30_000;
const PINGREQ = Buffer.from([0xc0, 0]);
/** The active pair's message rate and sample count in idle50k. */
const PAIR_RATE = 500;
const PAIR_SAMPLES = 2_500;

/** The `n`th source address from 127.0.0.2 up, {@link PER_SOURCE_ADDRESS} connections each. */
function sourceAddress(n: number): string {
  const k = 2 + Math.floor(n / PER_SOURCE_ADDRESS);
  return `127.0.${k >> 8}.${k & 255}`;
}

/**
 * `job.idleConnections` connections that CONNECT (keepalive 60 s), SUBSCRIBE to a topic of their
 * own and ping every 30 s, from 127.0.0.2 and up; then the broker's RSS growth per connection,
 * and the publish → delivery time of one more pair while the others sit there.
 */
async function idle50k(run: Run, job: Job): Promise<LoadResult> {
  const before = rssKb(job);
  const { clients, connectSeconds } = await openConnections(
    run,
    job.idleConnections,
    IDLE_CONCURRENCY * 2,
    (n) => new Client(run, job.port, `bench-idle-${n}`, { localAddress: sourceAddress(n) }),
    (client, n) => client.subscribe(`idle/${n}`, 0),
  );
  // A slice of the connections each second, so that each pings once per IDLE_PING_MS.
  let pinged = 0;
  const slice = Math.ceil(clients.length / (IDLE_PING_MS / 1000));
  const pinger = setInterval(() => {
    for (let k = 0; k < slice; k++) clients[pinged++ % clients.length].socket.write(PINGREQ);
  }, 1000);
  try {
    await run.sleep(1000);
    const after = rssKb(job);

    const samples = new Float64Array(PAIR_SAMPLES);
    let recorded = 0;
    const subscriber = new Client(run, job.port, "bench-pair-sub", {
      handler: (_type, flags, buf, start) => {
        if (recorded < PAIR_SAMPLES) {
          samples[recorded++] = performance.now() -
            buf.readDoubleLE(payloadStart(buf, start, flags, 4));
        }
      },
    });
    await subscriber.subscribe("bench/pair", 0);
    const publisher = new Client(run, job.port, "bench-pair-pub");
    await publisher.until(CONNACK, 1);
    const packet = encodePublish("bench/pair", payload(job.payloadBytes), 0, 0, 4);
    const stampAt = packet.length - job.payloadBytes;
    const a = snapshot(job, 0);
    let sent = 0;
    await run.watch((done) => {
      const tick = setInterval(() => {
        if (recorded >= PAIR_SAMPLES) return done();
        // One message per tick at most: samples of a lone message, not of a batch.
        if (sent > recorded) return;
        packet.writeDoubleLE(performance.now(), stampAt);
        publisher.socket.write(Buffer.from(packet));
        sent++;
      }, 1000 / PAIR_RATE);
      return () => clearInterval(tick);
    });
    const window = between(a, snapshot(job, 0));
    run.stopping = true;
    const sorted = samples.subarray(0, recorded).sort();
    return {
      status: "ok",
      metrics: {
        connected: clients.length,
        rssPerConnKb: (after - before) / clients.length,
        rssBeforeKb: before,
        rssAfterKb: after,
        connectPerSec: clients.length / connectSeconds,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
        maxMs: sorted[recorded - 1],
      },
      brokerCpuPct: window.brokerCpuPct,
      loadgenCpuPct: window.loadgenCpuPct,
      otherCpuPct: window.otherCpuPct,
    };
  } finally {
    clearInterval(pinger);
    run.stopping = true;
    for (const client of clients) client.destroy();
  }
}

async function connrate(run: Run, job: Job): Promise<LoadResult> {
  let connacks = 0;
  let serial = 0;
  const cycle = async (): Promise<void> => {
    const n = serial++;
    const client = new Client(run, job.port, `bench-conn-${n}`, login(job, n));
    await client.until(CONNACK, 1);
    connacks++;
    await client.disconnect();
  };
  const batches = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
      await Promise.all(Array.from({ length: CONNRATE_CONCURRENCY }, cycle));
    }
  };
  await batches(job.warmupMs);
  const a = snapshot(job, connacks);
  await batches(job.windowMs);
  const b = snapshot(job, connacks);
  const window = between(a, b);
  run.stopping = true;
  return {
    status: "ok",
    metrics: {
      rate: window.rate,
      connections: connacks,
      cpuUsPerConn: ((b.broker - a.broker) * 1e6) / (b.count - a.count),
      userUsPerConn: ((b.brokerUser - a.brokerUser) * 1e6) / (b.count - a.count),
    },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

/** The crowd of the storm scenario, in its own process (see storm.ts). */
class Crowd {
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  constructor(job: Job) {
    const script = join(dirname(fileURLToPath(import.meta.url)), "storm.ts");
    const auth = AUTH_SCENARIOS.has(job.scenario) ? "1" : "0";
    this.#child = spawn(process.execPath, ["--import", "tsx", script, String(job.port), auth], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.#lines = createInterface({ input: this.#child.stdout! })[Symbol.asyncIterator]();
  }

  /** One storm: resolves when every client of it has been answered. */
  async storm(name: string): Promise<StormRound> {
    this.#child.stdin!.write(`go ${name}\n`);
    return JSON.parse(await this.#line()) as StormRound;
  }

  /** The last storm's clients DISCONNECT: resolves when every one has closed. */
  async end(): Promise<void> {
    this.#child.stdin!.write("end\n");
    await this.#line();
  }

  async #line(): Promise<string> {
    const line = await this.#lines.next();
    if (line.done === true) throw new Failure("the storm's client process ended");
    return line.value;
  }

  close(): void {
    this.#child.kill();
  }
}

/**
 * One pair exchanging QoS 0 at {@link STORM_PAIR_RATE} while, {@link STORM_ROUNDS} times,
 * 1,000 clients CONNECT at once (from another process, storm.ts); the pair's round trips
 * are recorded from the start of each storm until its last client has been answered, and apart
 * from those, while its clients DISCONNECT, until every one has closed.
 */
async function storm(run: Run, job: Job): Promise<LoadResult> {
  const crowd = new Crowd(job);
  const capacity = Math.ceil(STORM_PAIR_RATE * (job.deadlineMs / 1000)) + 1000;
  const samples = new Float64Array(capacity);
  let recorded = 0;
  let recording = false;
  /** Round trips while the storms' clients DISCONNECT. */
  const ends = new Float64Array(capacity);
  let endsRecorded = 0;
  let ending = false;
  const subscriber = new Client(run, job.port, "bench-sub-0", {
    ...login(job, 0),
    handler: (_type, flags, buf, start) => {
      if (recording && recorded < capacity) {
        samples[recorded++] = performance.now() -
          buf.readDoubleLE(payloadStart(buf, start, flags, 4));
      } else if (ending && endsRecorded < capacity) {
        ends[endsRecorded++] = performance.now() -
          buf.readDoubleLE(payloadStart(buf, start, flags, 4));
      }
    },
  });
  await subscriber.subscribe("bench/storm", 0);
  const publisher = new Client(run, job.port, "bench-pub-0", login(job, 1));
  await publisher.until(CONNACK, 1);
  const template = encodePublish("bench/storm", payload(job.payloadBytes), 0, 0, 4);
  const stampAt = template.length - job.payloadBytes;
  const start = performance.now();
  let sent = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    const due = Math.min(Math.floor(((now - start) * STORM_PAIR_RATE) / 1000) - sent, 100);
    for (let k = 0; k < due; k++) {
      const packet = Buffer.from(template);
      packet.writeDoubleLE(now, stampAt);
      publisher.socket.write(packet);
    }
    sent += Math.max(0, due);
  }, 1);
  try {
    await run.sleep(job.warmupMs);
    recording = true;
    await run.sleep(STORM_CALM_MS);
    recording = false;
    const calm = samples.slice(0, recorded).sort();
    recorded = 0;
    const totals = { accepted: 0, refused: 0, lost: 0, slowestMs: 0 };
    const a = snapshot(job, 0);
    for (let round = 0; round < STORM_ROUNDS; round++) {
      recording = true;
      const result = await crowd.storm(String(round));
      recording = false;
      totals.accepted += result.accepted;
      totals.refused += result.refused;
      totals.lost += result.lost;
      totals.slowestMs = Math.max(totals.slowestMs, result.ms);
      ending = true;
      await crowd.end();
      ending = false;
      await run.sleep(300);
    }
    const window = between(a, snapshot(job, 0));
    run.stopping = true;
    const sorted = samples.subarray(0, recorded).sort();
    return {
      status: "ok",
      metrics: {
        p99Ms: percentile(sorted, 0.99),
        maxMs: recorded === 0 ? NaN : sorted[recorded - 1],
        calmP99Ms: percentile(calm, 0.99),
        endP99Ms: percentile(ends.subarray(0, endsRecorded).sort(), 0.99),
        samples: recorded,
        slowestStormMs: totals.slowestMs,
        accepted: totals.accepted,
        refused: totals.refused,
        lost: totals.lost,
      },
      brokerCpuPct: window.brokerCpuPct,
      loadgenCpuPct: window.loadgenCpuPct,
      otherCpuPct: window.otherCpuPct,
    };
  } finally {
    clearInterval(tick);
    crowd.close();
  }
}

const SCENARIOS: Record<ScenarioId, (run: Run, job: Job) => Promise<LoadResult>> = {
  fanin: (run, job) => throughput(run, job, { fanout: false, version: 4 }),
  fanin5: (run, job) =>
    throughput(run, job, { fanout: false, version: 5, userProperty: USER_PROPERTY }),
  fanout: (run, job) => throughput(run, job, { fanout: true, version: 4 }),
  fanout5: (run, job) => throughput(run, job, { fanout: true, version: 5 }),
  qos1: (run, job) => qos1(run, job, { version: 4, subscribers: 1, persistent: false }),
  qos1v5: (run, job) => qos1(run, job, { version: 5, subscribers: 1, persistent: false }),
  bridge: (run, job) => qos1(run, job, { version: 4, subscribers: 1, persistent: false }),
  qos1p: (run, job) => qos1(run, job, { version: 4, subscribers: 1, persistent: true }),
  fanout1p: (run, job) =>
    qos1(run, job, { version: 4, subscribers: FANOUT_SUBSCRIBERS, persistent: true }),
  latencyp: (run, job) => latency(run, job, true),
  qos1d: (run, job) => qos1(run, job, { version: 4, subscribers: 1, persistent: false }),
  shared: (run, job) => shared(run, job, 4),
  shared5: (run, job) => shared(run, job, 5),
  latency: (run, job) => latency(run, job, false),
  cfanin: (run, job) => throughput(run, job, { fanout: false, version: 4 }),
  cfanout: (run, job) => throughput(run, job, { fanout: true, version: 4 }),
  cqos1: (run, job) => qos1(run, job, { version: 4, subscribers: 1, persistent: false }),
  idle,
  idle50k,
  connrate,
  "connrate-auth": connrate,
  storm,
  "storm-auth": storm,
};

let reported = false;

/** Prints the result once and exits; sockets still open are closed by the exit. */
function report(result: LoadResult): void {
  if (reported) return;
  reported = true;
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`, () => process.exit(0));
}

function failed(error: unknown): LoadResult {
  return {
    status: "failed",
    error: error instanceof Error ? error.message : String(error),
    brokerDown: error instanceof Failure && error.kind === "brokerDown",
    unsupported: error instanceof Failure && error.kind === "unsupported",
    metrics: {},
  };
}

// The driver starts this process while the broker boots and sends the job once the broker listens.
let input = "";
for await (const chunk of process.stdin) input += String(chunk);
const job = JSON.parse(input) as Job;
const run = new Run();
process.on("unhandledRejection", (error) => report(failed(error)));
setTimeout(
  () => report(failed(`load generator gave up after ${job.deadlineMs} ms`)),
  job.deadlineMs,
).unref();

try {
  const result = await SCENARIOS[job.scenario](run, job);
  try {
    result.brokerPeakRssKb = [job.brokerPid, ...job.peerPids ?? []]
      .reduce((total, pid) => total + statusKb(pid, "VmHWM"), 0);
  } catch {
    // The broker may have died right after the window; the result stands, without a peak.
  }
  report(result);
} catch (error) {
  report(failed(error));
}
