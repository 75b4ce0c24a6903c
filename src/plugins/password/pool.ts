/**
 * A pool of worker threads that run the hashing of password checks, so that the event loop only
 * parses and compares while other clients' packets go on. `node:worker_threads` exists on Deno,
 * Bun and Node alike; the worker's program is source text run with `eval: true`, not a module
 * file, so that it works unchanged from source, from the esbuild bundles in `dist/` and inside
 * the executable `bun build --compile` makes, where no module file sits beside the program.
 *
 * Fail closed: a job whose worker errors or exits, or whose batch overruns `timeoutMs`, rejects
 * (the check is a refusal) and the worker is terminated; the next job starts a fresh one. Workers start on first
 * use and are not referenced while idle, so an idle pool keeps no process alive.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { availableParallelism } from "node:os";
import { setImmediate } from "node:timers";
import { Worker } from "node:worker_threads";
import type { Hasher } from "./hasher.ts";
import { shaCryptDigest } from "./sha_crypt.ts";

/** How long one batch of jobs may run before its worker is taken for stuck and terminated. */
export const HASH_TIMEOUT_MS = 10_000;

/**
 * Jobs cross to a worker in batches, several in one message, and their digests come back in one
 * reply: a storm of logins read in one turn costs a few messages each way, not one per login,
 * and a message costs both sides about what a default `$7$` hash costs.
 *
 * A batch travels as a Latin-1 string (one character a byte), because Deno clones a typed array,
 * even a transferred one, several times slower than a string, on both sides (a plain object of
 * typed arrays costs more still); Bun and Node pass strings fastest too. Each job in it: the
 * operation (0 PBKDF2, 1 SHA-crypt), the hash (0 SHA-256, 1 SHA-512), iterations or rounds
 * (float64, as `$7$` allows ten digits), the output length (uint16, PBKDF2 only), the password's
 * length and the salt's (uint32 each), the password, then the salt.
 */
const JOB_HEADER_BYTES = 20;

function encodeJob(
  op: 0 | 1,
  hash: "sha256" | "sha512",
  count: number,
  length: number,
  password: Uint8Array,
  salt: Uint8Array,
): string {
  const job = Buffer.allocUnsafe(JOB_HEADER_BYTES + password.length + salt.length);
  job[0] = op;
  job[1] = hash === "sha256" ? 0 : 1;
  job.writeDoubleBE(count, 2);
  job.writeUInt16BE(length, 10);
  job.writeUInt32BE(password.length, 12);
  job.writeUInt32BE(salt.length, 16);
  job.set(password, JOB_HEADER_BYTES);
  job.set(salt, JOB_HEADER_BYTES + password.length);
  return job.toString("latin1");
}

/**
 * What the worker answers: `"ready"` once, then for each batch one Latin-1 string holding, for
 * each of its jobs in order, a status byte (0 digest, 1 error), a uint32 length and that many
 * bytes: the digest, or the UTF-8 message of the error the job threw. An object when the batch
 * as a whole failed.
 */
type Reply = string | { error: string };

/** Bytes before each result's payload in a reply: the status and the length. */
const RESULT_HEADER_BYTES = 5;

/**
 * The nice value of a hashing thread: a storm of logins that keeps every worker busy must not
 * take the cores from the event loop, which answers the packets of connected clients (and reads
 * the next logins). Only on Linux, where it applies to the calling thread; elsewhere it would
 * lower the whole process.
 */
export const HASH_NICE = 10;

/**
 * The worker's program. Dynamic imports, because an `eval` worker is a CommonJS script on Node
 * and a module on Deno; `shaCryptDigest` is self-contained, so its own text can be inlined.
 */
const WORKER_SOURCE = `(async () => {
  const { parentPort } = await import("node:worker_threads");
  const { createHash, pbkdf2Sync } = await import("node:crypto");
  const { Buffer } = await import("node:buffer");
  // Linux keeps a nice value per thread: this one alone yields to the event loop (see HASH_NICE).
  if ((await import("node:process")).platform === "linux") {
    try {
      (await import("node:os")).setPriority(0, ${HASH_NICE});
    } catch {
      // Not allowed here: the thread hashes at the event loop's priority.
    }
  }
  const shaCryptDigest = ${shaCryptDigest.toString()};
  const run = (job, at) => {
    const count = job.readDoubleBE(at + 2);
    const split = at + ${JOB_HEADER_BYTES} + job.readUInt32BE(at + 12);
    const end = split + job.readUInt32BE(at + 16);
    const password = job.subarray(at + ${JOB_HEADER_BYTES}, split);
    const salt = job.subarray(split, end);
    const hash = job[at + 1] === 0 ? "sha256" : "sha512";
    let result;
    try {
      const value = job[at] === 0
        ? pbkdf2Sync(password, salt, count, job.readUInt16BE(at + 10), hash)
        : shaCryptDigest(createHash, hash, password, salt, count);
      result = [0, Buffer.from(value.buffer, value.byteOffset, value.byteLength)];
    } catch (error) {
      result = [1, Buffer.from(String(error))];
    }
    return { end, result };
  };
  parentPort.on("message", (text) => {
    try {
      const batch = Buffer.from(text, "latin1");
      const parts = [];
      for (let at = 0; at < batch.length;) {
        const { end, result: [status, payload] } = run(batch, at);
        const header = Buffer.allocUnsafe(${RESULT_HEADER_BYTES});
        header[0] = status;
        header.writeUInt32BE(payload.length, 1);
        parts.push(header, payload);
        at = end;
      }
      parentPort.postMessage(Buffer.concat(parts).toString("latin1"));
    } catch (error) {
      parentPort.postMessage({ error: String(error) });
    }
  });
  parentPort.postMessage("ready");
})();`;

/** Options of a {@link HashPool}. */
export interface HashPoolOptions {
  /** Worker threads at most; default the number of cores. */
  size?: number;
  /** See {@link HASH_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** The worker's program; only tests replace it, to make a worker misbehave. */
  source?: string;
}

interface Pending {
  readonly job: string;
  /** Iterations or rounds: what the job costs, roughly, whatever its scheme. */
  readonly cost: number;
  readonly resolve: (value: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Batches handed to one worker at once: while it hashes one, the next is already in its inbox, so
 * it does not sit idle for a message's round trip between them.
 */
export const BATCHES_PER_THREAD = 2;

/** Jobs in one batch at most. */
export const MAX_BATCH_JOBS = 64;

/**
 * Iterations or rounds in one batch at most (a costlier job goes alone): some milliseconds of
 * hashing, so that the first login of a batch does not wait long for the last, and a batch stays
 * far within {@link HASH_TIMEOUT_MS}, which it gets as a whole.
 */
export const MAX_BATCH_COST = 20_000;

/** One worker and the batches handed to it, oldest (the one it runs) first. */
interface Thread {
  readonly worker: Worker;
  ready: boolean;
  readonly batches: Pending[][];
  /** The running batch's deadline. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A {@link Hasher} on worker threads; {@link HashPool.close} ends them all. */
export class HashPool implements Hasher {
  /** Worker threads at most. */
  readonly size: number;
  readonly #timeoutMs: number;
  readonly #source: string;
  readonly #threads = new Set<Thread>();
  readonly #waiting: Pending[] = [];
  /** The jobs of this turn are handed out at its end, in batches (see {@link JOB_HEADER_BYTES}). */
  #scheduled = false;
  #closed = false;

  /** Makes a pool; no thread starts before the first job. */
  constructor(options: HashPoolOptions = {}) {
    this.size = Math.max(1, options.size ?? availableParallelism());
    this.#timeoutMs = options.timeoutMs ?? HASH_TIMEOUT_MS;
    this.#source = options.source ?? WORKER_SOURCE;
  }

  /** Worker threads running now (busy or idle). */
  get threads(): number {
    return this.#threads.size;
  }

  /** Jobs worth handing the pool at once: enough for full batches in every thread's inbox. */
  get capacity(): number {
    return this.size * BATCHES_PER_THREAD * MAX_BATCH_JOBS;
  }

  pbkdf2(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    length: number,
    digest: "sha256" | "sha512",
  ): Promise<Uint8Array> {
    return this.#run(encodeJob(0, digest, iterations, length, password, salt), iterations);
  }

  shaCrypt(
    algorithm: "sha256" | "sha512",
    key: Uint8Array,
    salt: Uint8Array,
    rounds: number,
  ): Promise<Uint8Array> {
    return this.#run(encodeJob(1, algorithm, rounds, 0, key, salt), rounds);
  }

  /** Rejects every waiting and running job, terminates every thread and takes no more jobs. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new Error("the hashing pool is closed");
    for (const pending of this.#waiting.splice(0)) pending.reject(closed);
    const exits = [...this.#threads].map((thread) => this.#end(thread, closed));
    await Promise.all(exits);
  }

  #run(job: string, cost: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error("the hashing pool is closed"));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, cost, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (!this.#closed) this.#dispatch();
      });
    });
  }

  /**
   * Hands waiting jobs in batches to the least loaded ready threads, an even share of them to
   * each free place in the threads' inboxes, starting threads up to {@link size}.
   */
  #dispatch(): void {
    let free = (this.size - this.#threads.size) * BATCHES_PER_THREAD;
    for (const thread of this.#threads) free += BATCHES_PER_THREAD - thread.batches.length;
    const share = Math.ceil(this.#waiting.length / Math.max(1, free));
    while (this.#waiting.length > 0) {
      let best: Thread | undefined;
      for (const thread of this.#threads) {
        if (
          thread.ready &&
          thread.batches.length < (best?.batches.length ?? BATCHES_PER_THREAD)
        ) best = thread;
      }
      if (best === undefined || (best.batches.length > 0 && this.#threads.size < this.size)) break;
      this.#assign(best, share);
    }
    const starting = [...this.#threads].filter((thread) => !thread.ready).length;
    if (this.#waiting.length > 0 && starting === 0 && this.#threads.size < this.size) {
      this.#start();
    }
  }

  /** Gives `thread` the oldest waiting jobs, up to `share` of them and the limits of a batch. */
  #assign(thread: Thread, share: number): void {
    const limit = Math.min(share, MAX_BATCH_JOBS);
    let count = 1;
    let cost = this.#waiting[0].cost;
    while (count < limit && count < this.#waiting.length) {
      cost += this.#waiting[count].cost;
      if (cost > MAX_BATCH_COST) break;
      count++;
    }
    const batch = this.#waiting.splice(0, count);
    thread.batches.push(batch);
    if (thread.batches.length === 1) this.#running(thread);
    thread.worker.postMessage(count === 1 ? batch[0].job : batch.map((p) => p.job).join(""));
  }

  /** The oldest batch of `thread` has started: its deadline runs from now, and the thread counts. */
  #running(thread: Thread): void {
    thread.worker.ref();
    thread.timer = setTimeout(
      () => void this.#end(thread, new Error(`password hashing took over ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
  }

  #start(): void {
    const worker = new Worker(this.#source, { eval: true });
    const thread: Thread = { worker, ready: false, batches: [], timer: undefined };
    this.#threads.add(thread);
    worker.on("message", (reply: Reply) => {
      if (!this.#threads.has(thread)) return;
      if (!thread.ready) {
        thread.ready = reply === "ready";
        worker.unref();
      } else {
        const batch = thread.batches.shift() ?? [];
        this.#stopClock(thread);
        if (thread.batches.length > 0) this.#running(thread);
        settle(batch, reply);
      }
      this.#dispatch();
    });
    worker.on("error", (error: Error) => void this.#end(thread, error));
    worker.on("exit", (code: number) => {
      void this.#end(thread, new Error(`a hashing worker exited with code ${code}`));
    });
  }

  /** No batch of `thread` is running: no deadline, and an idle worker keeps no process alive. */
  #stopClock(thread: Thread): void {
    clearTimeout(thread.timer);
    thread.timer = undefined;
    thread.worker.unref();
  }

  /** Fails the thread's jobs, terminates it and forgets it; waiting jobs go to another thread. */
  async #end(thread: Thread, error: Error): Promise<void> {
    if (!this.#threads.delete(thread)) return;
    this.#stopClock(thread);
    for (const batch of thread.batches.splice(0)) {
      for (const pending of batch) pending.reject(error);
    }
    // A worker that died before it was ready would die again: fail the waiting jobs, not loop.
    if (!thread.ready) { for (const waiting of this.#waiting.splice(0)) waiting.reject(error); }
    if (!this.#closed) this.#dispatch();
    await thread.worker.terminate();
  }
}

/**
 * Settles the jobs of `batch` by the worker's `reply` (see {@link Reply}); a job the reply has no
 * whole result for fails, so a garbled reply admits nobody.
 */
function settle(batch: readonly Pending[], reply: Reply): void {
  if (typeof reply !== "string") {
    const error = new Error(reply.error);
    for (const pending of batch) pending.reject(error);
    return;
  }
  const bytes = Buffer.from(reply, "latin1");
  let at = 0;
  for (const pending of batch) {
    const start = at + RESULT_HEADER_BYTES;
    const end = start + (start <= bytes.length ? bytes.readUInt32BE(at + 1) : 0);
    if (start > bytes.length || end > bytes.length) {
      pending.reject(new Error("a hashing worker answered with fewer results than jobs"));
    } else if (bytes[at] === 0) {
      pending.resolve(new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start));
    } else {
      pending.reject(new Error(bytes.toString("utf8", start, end)));
    }
    at = end;
  }
}
