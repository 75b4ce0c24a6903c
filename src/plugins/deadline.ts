/**
 * Deadlines for plugin hooks: an answer that rejects or comes too late counts as a deny, and
 * closing settles every answer still awaited, so no timer outlives the plugin manager.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** A readable message for anything thrown. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether `value` is a promise (or any thenable) rather than an answer. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** Bounds promised hook answers by one timeout. */
export class Deadlines {
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  /** Settles each answer still awaited with its fallback. */
  readonly #pending = new Set<() => void>();
  #closed = false;

  /** `timeoutMs` is how long an answer may take. */
  constructor(timeoutMs: number, logger: Logger) {
    this.#timeoutMs = timeoutMs;
    this.#logger = logger;
  }

  /**
   * Resolves to what `answer` resolves to, or to `fallback` if it rejects, outlasts the timeout
   * or is still awaited at {@link Deadlines.close} (at once after it). Rejections and timeouts are
   * logged as `what` (e.g. `plugin x: authenticate`), counted as a deny.
   */
  bound<T>(answer: PromiseLike<T>, fallback: T, what: string): Promise<T> {
    if (this.#closed) return Promise.resolve(fallback);
    return new Promise((resolve) => {
      const finish = (value: T) => {
        if (!this.#pending.delete(settle)) return;
        clearTimeout(timer);
        resolve(value);
      };
      const settle = () => finish(fallback);
      this.#pending.add(settle);
      const timer = setTimeout(() => {
        this.#logger.error(`${what} took longer than ${this.#timeoutMs} ms, counted as a deny`);
        settle();
      }, this.#timeoutMs);
      answer.then(finish, (e) => {
        this.#logger.error(`${what} rejected, counted as a deny: ${describe(e)}`);
        settle();
      });
    });
  }

  /** Settles every answer still awaited with its fallback; later ones get theirs at once. */
  close(): void {
    this.#closed = true;
    for (const settle of [...this.#pending]) settle();
  }
}
