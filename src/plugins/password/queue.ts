/**
 * A bounded queue of password checks, run in arrival order, at most `concurrency` at once (as
 * many as the hashing pool takes: more would only wait inside it); the bound keeps a flood from
 * queueing without end.
 *
 * @module
 */

/**
 * Checks waiting or running at once, by default; beyond that a check is refused at once. Room for
 * a storm of reconnecting clients after a restart (each refused one would see "bad user name or
 * password"): on the pool a default `$7$` check costs a worker about 0.1 ms, so a full queue
 * drains in a fraction of a second on two cores, and SHA-crypt's 5000 rounds in a few seconds.
 */
export const MAX_PENDING_CHECKS = 1024;

/** A check: resolves to its answer, and should end early (false) once `signal` is aborted. */
export type Check = (signal: AbortSignal) => Promise<boolean>;

interface Job {
  readonly check: Check;
  readonly resolve: (ok: boolean) => void;
}

/** Runs {@link Check}s in arrival order, `concurrency` at a time, with at most `limit` pending. */
export class CheckQueue {
  /** The most checks pending (waiting or running) at once. */
  readonly limit: number;
  /** The most checks running at once. */
  readonly concurrency: number;
  readonly #waiting: Job[] = [];
  readonly #stop = new AbortController();
  #running = 0;

  /** Makes a queue of at most `limit` pending checks, `concurrency` of them running. */
  constructor(limit = MAX_PENDING_CHECKS, concurrency = 1) {
    this.limit = limit;
    this.concurrency = Math.max(1, concurrency);
  }

  /** Checks waiting or running. */
  get pending(): number {
    return this.#waiting.length + this.#running;
  }

  /**
   * Queues `check` and resolves to its answer (false if it throws or the queue is closed), or
   * returns undefined, running nothing, when `limit` checks are already pending.
   */
  add(check: Check): Promise<boolean> | undefined {
    if (this.#stop.signal.aborted || this.pending >= this.limit) return undefined;
    return new Promise((resolve) => {
      this.#waiting.push({ check, resolve });
      if (this.#running < this.concurrency) void this.#drain();
    });
  }

  /** Settles every pending check as false and refuses new ones; running ones are told to stop. */
  close(): void {
    this.#stop.abort();
    for (const job of this.#waiting.splice(0)) job.resolve(false);
  }

  /** One lane: runs waiting checks one after another until none is left. */
  async #drain(): Promise<void> {
    this.#running++;
    for (let job = this.#waiting.shift(); job; job = this.#waiting.shift()) {
      let ok = false;
      try {
        ok = !this.#stop.signal.aborted && await job.check(this.#stop.signal);
      } catch {
        ok = false;
      }
      job.resolve(ok && !this.#stop.signal.aborted);
    }
    this.#running--;
  }
}
