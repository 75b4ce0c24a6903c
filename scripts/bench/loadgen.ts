/**
 * The load generator: drives one broker through one scenario and prints one line
 * `RESULT {...LoadResult}` on stdout. Started by scripts/bench.ts as
 * `node --import tsx scripts/bench/loadgen.ts`, with the Job as JSON on stdin, in its own process so
 * that it gets a core of its own. Raw node:net sockets, packets encoded once at start, incoming bytes scanned by
 * fixed header only; payloads are read only where the latency scenario needs its timestamp.
 *
 * Metrics by scenario:
 * - fanin, fanout: `rate` (messages delivered to subscribers per second)
 * - qos1: `rate`, `acked`, `delivered`, `lost` (acknowledged to a publisher, never delivered), `unacked`
 * - latency: `p50Ms`, `p99Ms`, `maxMs`, `rate` (delivered per second), `lost`
 * - idle: `rssPerConnKb`, `rssBeforeKb`, `rssAfterKb`, `connected`, `connectPerSec`
 * - connrate: `rate` (CONNECT+CONNACK per second), `connections`
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import process from "node:process";
import {
  CONNACK,
  DISCONNECT,
  encodeConnect,
  encodePublish,
  encodeSubscribe,
  type PacketHandler,
  PacketScanner,
  PUBACK,
  PUBLISH,
  SUBACK,
  writePuback,
} from "./mqtt.ts";
import { cpuSeconds, machineBusySeconds, statusKb } from "./procfs.ts";
import { type Job, type LoadResult, RESULT_PREFIX, type ScenarioId } from "./shared.ts";

const HOST = "127.0.0.1";
const PUBLISHERS = 10;
const FANOUT_SUBSCRIBERS = 20;
const QOS1_IN_FLIGHT = 100;
const QOS1_REFILL = 10;
/** Packet ids cycle through this many pre-encoded QoS 1 packets; far more than are ever in flight. */
const QOS1_RING = 1000;
/** A flood chunk larger than a socket's high-water mark, so that every write waits for 'drain'. */
const FLOOD_CHUNK_BYTES = 32 * 1024;
const IDLE_CONCURRENCY = 100;
const CONNRATE_CONCURRENCY = 50;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 1_000;

/** The reason a run stopped early; its message goes into the result as is. */
class Failure extends Error {
  /** The broker refused connections or its process is gone: the driver reports a crash. */
  readonly brokerDown: boolean;

  constructor(message: string, brokerDown = false) {
    super(message);
    this.brokerDown = brokerDown;
  }
}

/** State shared by every client of one run: the first unexpected failure ends the run. */
class Run {
  failure: string | null = null;
  /** Set once measurement is over, so that connections closing during teardown are no failure. */
  stopping = false;
  readonly #onFail = new Set<(error: Failure) => void>();

  fail(reason: string, brokerDown = false): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = reason;
    const error = new Failure(reason, brokerDown);
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

/** One MQTT connection of the load generator. */
class Client {
  readonly socket: Socket;
  readonly scanner: PacketScanner;
  /** Called after each incoming chunk has been scanned, e.g. to send a batch of acks. */
  afterChunk: (() => void) | null = null;
  #closeExpected = false;
  #errorCode = "";
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly run: Run,
    port: number,
    readonly id: string,
    handler: PacketHandler | null = null,
  ) {
    this.scanner = new PacketScanner(handler);
    this.socket = connect({ host: HOST, port, noDelay: true });
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
        const how = this.#errorCode === "ECONNREFUSED"
          ? "connection refused"
          : this.#errorCode === ""
          ? "connection closed by the broker"
          : `connection lost (${this.#errorCode})`;
        run.fail(`${how} (client ${id})`, this.#errorCode === "ECONNREFUSED");
      }
      for (const check of this.#waiters) check();
    });
    // Node queues writes until the socket is connected.
    this.socket.write(encodeConnect(id, 60));
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
    this.socket.write(encodeSubscribe(1, filter, qos));
    await this.until(SUBACK, 1);
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
  broker: number;
  machine: number;
  self: NodeJS.CpuUsage;
}

function snapshot(job: Job, count: number): Snapshot {
  let broker: number;
  try {
    broker = cpuSeconds(job.brokerPid);
  } catch {
    throw new Failure("broker process is gone", true);
  }
  return {
    at: performance.now(),
    count,
    broker,
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

/** Warm-up, then the measurement window over `count()`. */
async function measure(run: Run, job: Job, count: () => number): Promise<Window> {
  await run.sleep(job.warmupMs);
  const a = snapshot(job, count());
  await run.sleep(job.windowMs);
  return between(a, snapshot(job, count()));
}

function sum(clients: Client[], type: number): number {
  let total = 0;
  for (const client of clients) total += client.scanner.counts[type];
  return total;
}

async function connectAll(clients: Client[]): Promise<void> {
  await Promise.all(clients.map((client) => client.until(CONNACK, 1)));
}

async function throughput(run: Run, job: Job, fanout: boolean): Promise<LoadResult> {
  const subscribers = Array.from(
    { length: fanout ? FANOUT_SUBSCRIBERS : 1 },
    (_, i) => new Client(run, job.port, `bench-sub-${i}`),
  );
  await Promise.all(subscribers.map((s) => s.subscribe(fanout ? "bench/fanout" : "bench/#", 0)));
  const publishers = Array.from(
    { length: PUBLISHERS },
    (_, i) => new Client(run, job.port, `bench-pub-${i}`),
  );
  await connectAll(publishers);
  const body = payload(job.payloadBytes);
  const packets = publishers.map((_, i) =>
    encodePublish(fanout ? "bench/fanout" : `bench/${i}`, body, 0)
  );
  publishers.forEach((client, i) => flood(client, repeat(packets[i])));
  const window = await measure(run, job, () => sum(subscribers, PUBLISH));
  run.stopping = true;
  // A scanner out of step with the stream would count garbage; it cannot count more than was sent.
  const published = publishers.reduce((total, client) => total + client.socket.bytesWritten, 0) /
    packets[0].length;
  if (sum(subscribers, PUBLISH) > published * subscribers.length) {
    throw new Failure(
      `counted more deliveries than ${published} publishes × ${subscribers.length}`,
    );
  }
  return {
    status: "ok",
    metrics: { rate: window.rate },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

async function qos1(run: Run, job: Job): Promise<LoadResult> {
  const acks: number[] = [];
  const subscriber = new Client(run, job.port, "bench-sub-0", (type, flags, buf, start) => {
    if (type !== PUBLISH || (flags & 6) === 0) return;
    const topicLength = (buf[start] << 8) | buf[start + 1];
    acks.push((buf[start + 2 + topicLength] << 8) | buf[start + 3 + topicLength]);
  });
  subscriber.afterChunk = () => {
    if (acks.length === 0) return;
    const out = Buffer.allocUnsafe(4 * acks.length);
    for (let i = 0; i < acks.length; i++) writePuback(out, 4 * i, acks[i]);
    acks.length = 0;
    subscriber.socket.write(out);
  };
  await subscriber.subscribe("bench/#", 1);

  const body = payload(job.payloadBytes);
  let publishing = true;
  const publishers = Array.from({ length: PUBLISHERS }, (_, i) => {
    const client = new Client(run, job.port, `bench-pub-${i}`);
    const packets = Array.from(
      { length: QOS1_RING },
      (_, k) => encodePublish(`bench/${i}`, body, 1, k + 1),
    );
    const size = packets[0].length;
    const ring = Buffer.concat(packets);
    const state = { next: 0, inFlight: 0, seenAcks: 0 };
    const send = (n: number): void => {
      let left = n;
      while (left > 0) {
        const take = Math.min(left, QOS1_RING - state.next);
        client.socket.write(ring.subarray(state.next * size, (state.next + take) * size));
        state.next = (state.next + take) % QOS1_RING;
        left -= take;
      }
      state.inFlight += n;
    };
    const start = (): void => {
      client.afterChunk = () => {
        const acked = client.scanner.counts[PUBACK];
        state.inFlight -= acked - state.seenAcks;
        state.seenAcks = acked;
        // Topping up in batches keeps the write count, and so the load generator's CPU, down.
        if (publishing && QOS1_IN_FLIGHT - state.inFlight >= QOS1_REFILL) {
          send(QOS1_IN_FLIGHT - state.inFlight);
        }
      };
      send(QOS1_IN_FLIGHT);
    };
    return { client, state, start };
  });
  await connectAll(publishers.map((p) => p.client));
  for (const p of publishers) p.start();

  const delivered = (): number => subscriber.scanner.counts[PUBLISH];
  const window = await measure(run, job, delivered);
  publishing = false;
  const acked = (): number => sum(publishers.map((p) => p.client), PUBACK);
  const inFlight = (): number => publishers.reduce((total, p) => total + p.state.inFlight, 0);
  const drainEnd = performance.now() + job.drainMs;
  while (performance.now() < drainEnd && (inFlight() > 0 || delivered() < acked())) {
    await run.sleep(50);
  }
  run.stopping = true;
  return {
    status: "ok",
    metrics: {
      rate: window.rate,
      acked: acked(),
      delivered: delivered(),
      lost: Math.max(0, acked() - delivered()),
      unacked: inFlight(),
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

async function latency(run: Run, job: Job): Promise<LoadResult> {
  const capacity = Math.ceil((job.latencyRate * job.windowMs) / 1000 * 1.5) + 1000;
  const samples = new Float64Array(capacity);
  let recorded = 0;
  let recording = false;
  let received = 0;
  const subscriber = new Client(run, job.port, "bench-sub-0", (type, flags, buf, start) => {
    if (type !== PUBLISH) return;
    received++;
    if (!recording || recorded >= capacity) return;
    const topicLength = (buf[start] << 8) | buf[start + 1];
    const at = start + 2 + topicLength + ((flags & 6) === 0 ? 0 : 2);
    samples[recorded++] = performance.now() - buf.readDoubleLE(at);
  });
  await subscriber.subscribe("bench/latency", 0);
  const publisher = new Client(run, job.port, "bench-pub-0");
  await publisher.until(CONNACK, 1);

  const template = encodePublish("bench/latency", payload(job.payloadBytes), 0);
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
    await run.sleep(job.windowMs);
    recording = false;
    const window = between(a, snapshot(job, received));
    clearInterval(tick);
    await run.sleep(300);
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
      },
      brokerCpuPct: window.brokerCpuPct,
      loadgenCpuPct: window.loadgenCpuPct,
      otherCpuPct: window.otherCpuPct,
    };
  } finally {
    clearInterval(tick);
  }
}

function rssKb(job: Job): number {
  try {
    return statusKb(job.brokerPid, "VmRSS");
  } catch {
    throw new Failure("broker process is gone", true);
  }
}

async function idle(run: Run, job: Job): Promise<LoadResult> {
  const before = rssKb(job);
  const clients: Client[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < job.idleConnections && run.failure === null) {
      const client = new Client(run, job.port, `bench-idle-${next++}`);
      clients.push(client);
      await client.until(CONNACK, 1);
    }
  };
  await Promise.all(Array.from({ length: IDLE_CONCURRENCY }, worker));
  const connectSeconds = (performance.now() - started) / 1000;
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

async function connrate(run: Run, job: Job): Promise<LoadResult> {
  let connacks = 0;
  let serial = 0;
  const cycle = async (): Promise<void> => {
    const client = new Client(run, job.port, `bench-conn-${serial++}`);
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
  const window = between(a, snapshot(job, connacks));
  run.stopping = true;
  return {
    status: "ok",
    metrics: { rate: window.rate, connections: connacks },
    brokerCpuPct: window.brokerCpuPct,
    loadgenCpuPct: window.loadgenCpuPct,
    otherCpuPct: window.otherCpuPct,
  };
}

const SCENARIOS: Record<ScenarioId, (run: Run, job: Job) => Promise<LoadResult>> = {
  fanin: (run, job) => throughput(run, job, false),
  fanout: (run, job) => throughput(run, job, true),
  qos1,
  latency,
  idle,
  connrate,
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
    brokerDown: error instanceof Failure && error.brokerDown,
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
    result.brokerPeakRssKb = statusKb(job.brokerPid, "VmHWM");
  } catch {
    // The broker may have died right after the window; the result stands, without a peak.
  }
  report(result);
} catch (error) {
  report(failed(error));
}
