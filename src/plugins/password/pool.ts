/**
 * A pool of worker threads that run the hashing of password checks, so that the event loop only
 * parses and compares while other clients' packets go on. `node:worker_threads` exists on Deno,
 * Bun and Node alike; the worker's program is source text run with `eval: true`, not a module
 * file, so that it works unchanged from source, from the esbuild bundles in `dist/` and inside
 * the executable `bun build --compile` makes, where no module file sits beside the program.
 *
 * Fail closed: a job whose worker errors, exits or overruns `timeoutMs` rejects (the check is a
 * refusal) and the worker is terminated; the next job starts a fresh one. Workers start on first
 * use and are not referenced while idle, so an idle pool keeps no process alive.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Hasher } from "./hasher.ts";
import { shaCryptDigest } from "./sha_crypt.ts";

/** How long one hashing job may run before its worker is taken for stuck and terminated. */
export const HASH_TIMEOUT_MS = 10_000;

/**
 * A job as the worker receives it: its bytes as a Latin-1 string (one character a byte), because
 * Deno clones a typed array, even a transferred one, several times slower than a string, on both
 * sides (a plain object of typed arrays costs more still); Bun and Node pass strings fastest too.
 * Layout of the bytes: the operation (0 PBKDF2, 1 SHA-crypt), the hash (0 SHA-256, 1 SHA-512),
 * iterations or rounds (float64, as `$7$` allows ten digits), the output length (uint16, PBKDF2
 * only), the password's length (uint32), the password, then the salt.
 */
const HEADER_BYTES = 16;

function encodeJob(
  op: 0 | 1,
  hash: "sha256" | "sha512",
  count: number,
  length: number,
  password: Uint8Array,
  salt: Uint8Array,
): string {
  const job = Buffer.allocUnsafe(HEADER_BYTES + password.length + salt.length);
  const view = new DataView(job.buffer, job.byteOffset, job.byteLength);
  job[0] = op;
  job[1] = hash === "sha256" ? 0 : 1;
  view.setFloat64(2, count);
  view.setUint16(10, length);
  view.setUint32(12, password.length);
  job.set(password, HEADER_BYTES);
  job.set(salt, HEADER_BYTES + password.length);
  return job.toString("latin1");
}

/**
 * What the worker answers: `"ready"` once, then for each job its digest as a Latin-1 string (as
 * jobs travel, see {@link HEADER_BYTES}), or the message of the error it threw.
 */
type Reply = string | { error: string };

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
  parentPort.on("message", (text) => {
    try {
      const job = Buffer.from(text, "latin1");
      const view = new DataView(job.buffer, job.byteOffset, job.byteLength);
      const hash = job[1] === 0 ? "sha256" : "sha512";
      const count = view.getFloat64(2);
      const split = ${HEADER_BYTES} + view.getUint32(12);
      const password = job.subarray(${HEADER_BYTES}, split);
      const salt = job.subarray(split);
      const value = job[0] === 0
        ? pbkdf2Sync(password, salt, count, view.getUint16(10), hash)
        : shaCryptDigest(createHash, hash, password, salt, count);
      const digest = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      parentPort.postMessage(digest.toString("latin1"));
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
  readonly resolve: (value: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Jobs handed to one worker at once: while it hashes one, the next is already in its inbox, so
 * it does not sit idle for a message's round trip between jobs.
 */
export const JOBS_PER_THREAD = 4;

/** One worker and the jobs handed to it, oldest (the one it runs) first. */
interface Thread {
  readonly worker: Worker;
  ready: boolean;
  readonly jobs: Pending[];
  /** The running job's deadline. */
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

  pbkdf2(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    length: number,
    digest: "sha256" | "sha512",
  ): Promise<Uint8Array> {
    return this.#run(encodeJob(0, digest, iterations, length, password, salt));
  }

  shaCrypt(
    algorithm: "sha256" | "sha512",
    key: Uint8Array,
    salt: Uint8Array,
    rounds: number,
  ): Promise<Uint8Array> {
    return this.#run(encodeJob(1, algorithm, rounds, 0, key, salt));
  }

  /** Rejects every waiting and running job, terminates every thread and takes no more jobs. */
  async close(): Promise<void> {
    this.#closed = true;
    const closed = new Error("the hashing pool is closed");
    for (const pending of this.#waiting.splice(0)) pending.reject(closed);
    const exits = [...this.#threads].map((thread) => this.#end(thread, closed));
    await Promise.all(exits);
  }

  #run(job: string): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error("the hashing pool is closed"));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ job, resolve, reject });
      this.#dispatch();
    });
  }

  /** Jobs the pool runs or holds in workers' inboxes at most: more wait in the pool. */
  get capacity(): number {
    return this.size * JOBS_PER_THREAD;
  }

  /** Hands waiting jobs to the least loaded ready threads, starting threads up to {@link size}. */
  #dispatch(): void {
    while (this.#waiting.length > 0) {
      let best: Thread | undefined;
      for (const thread of this.#threads) {
        if (thread.ready && thread.jobs.length < (best?.jobs.length ?? JOBS_PER_THREAD)) {
          best = thread;
        }
      }
      if (best === undefined || (best.jobs.length > 0 && this.#threads.size < this.size)) break;
      this.#assign(best);
    }
    const starting = [...this.#threads].filter((thread) => !thread.ready).length;
    if (this.#waiting.length > 0 && starting === 0 && this.#threads.size < this.size) {
      this.#start();
    }
  }

  #assign(thread: Thread): void {
    const pending = this.#waiting.shift()!;
    thread.jobs.push(pending);
    if (thread.jobs.length === 1) this.#running(thread);
    thread.worker.postMessage(pending.job);
  }

  /** The oldest job of `thread` has started: its deadline runs from now, and the thread counts. */
  #running(thread: Thread): void {
    thread.worker.ref();
    thread.timer = setTimeout(
      () => void this.#end(thread, new Error(`password hashing took over ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
  }

  #start(): void {
    const worker = new Worker(this.#source, { eval: true });
    const thread: Thread = { worker, ready: false, jobs: [], timer: undefined };
    this.#threads.add(thread);
    worker.on("message", (reply: Reply) => {
      if (!this.#threads.has(thread)) return;
      if (!thread.ready) {
        thread.ready = reply === "ready";
        worker.unref();
      } else {
        const pending = thread.jobs.shift();
        this.#stopClock(thread);
        if (thread.jobs.length > 0) this.#running(thread);
        if (typeof reply === "string") {
          pending?.resolve(new Uint8Array(Buffer.from(reply, "latin1")));
        } else pending?.reject(new Error(reply.error));
      }
      this.#dispatch();
    });
    worker.on("error", (error: Error) => void this.#end(thread, error));
    worker.on("exit", (code: number) => {
      void this.#end(thread, new Error(`a hashing worker exited with code ${code}`));
    });
  }

  /** No job of `thread` is running: no deadline, and an idle worker keeps no process alive. */
  #stopClock(thread: Thread): void {
    clearTimeout(thread.timer);
    thread.timer = undefined;
    thread.worker.unref();
  }

  /** Fails the thread's jobs, terminates it and forgets it; waiting jobs go to another thread. */
  async #end(thread: Thread, error: Error): Promise<void> {
    if (!this.#threads.delete(thread)) return;
    this.#stopClock(thread);
    for (const pending of thread.jobs.splice(0)) pending.reject(error);
    // A worker that died before it was ready would die again: fail the waiting jobs, not loop.
    if (!thread.ready) { for (const waiting of this.#waiting.splice(0)) waiting.reject(error); }
    if (!this.#closed) this.#dispatch();
    await thread.worker.terminate();
  }
}
