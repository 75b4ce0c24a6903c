/**
 * A bounded queue of password checks, run one at a time: each check already gives the event loop
 * a turn between slices of its work, and running them in turn keeps that to one slice per turn
 * however many clients connect at once; the bound keeps a flood from queueing without end.
 *
 * @module
 */

/** Checks waiting or running at once, by default; beyond that a check is refused at once. */
export const MAX_PENDING_CHECKS = 64;

/** A check: resolves to its answer, and should end early (false) once `signal` is aborted. */
export type Check = (signal: AbortSignal) => Promise<boolean>;

interface Job {
  readonly check: Check;
  readonly resolve: (ok: boolean) => void;
}

/** Runs {@link Check}s in arrival order, one at a time, with at most `limit` pending. */
export class CheckQueue {
  /** The most checks pending (waiting or running) at once. */
  readonly limit: number;
  readonly #waiting: Job[] = [];
  readonly #stop = new AbortController();
  #running = false;

  /** Makes a queue of at most `limit` pending checks. */
  constructor(limit = MAX_PENDING_CHECKS) {
    this.limit = limit;
  }

  /** Checks waiting or running. */
  get pending(): number {
    return this.#waiting.length + (this.#running ? 1 : 0);
  }

  /**
   * Queues `check` and resolves to its answer (false if it throws or the queue is closed), or
   * returns undefined, running nothing, when `limit` checks are already pending.
   */
  add(check: Check): Promise<boolean> | undefined {
    if (this.#stop.signal.aborted || this.pending >= this.limit) return undefined;
    return new Promise((resolve) => {
      this.#waiting.push({ check, resolve });
      if (!this.#running) void this.#drain();
    });
  }

  /** Settles every pending check as false and refuses new ones; the running one stops early. */
  close(): void {
    this.#stop.abort();
    for (const job of this.#waiting.splice(0)) job.resolve(false);
  }

  async #drain(): Promise<void> {
    this.#running = true;
    for (let job = this.#waiting.shift(); job; job = this.#waiting.shift()) {
      let ok = false;
      try {
        ok = !this.#stop.signal.aborted && await job.check(this.#stop.signal);
      } catch {
        ok = false;
      }
      job.resolve(ok && !this.#stop.signal.aborted);
    }
    this.#running = false;
  }
}
