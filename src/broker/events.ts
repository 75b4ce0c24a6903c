/**
 * A typed event emitter for the broker's events. Listeners never break the broker: their
 * exceptions and rejections are logged.
 *
 * @module
 */
import type { BrokerEventHandler, BrokerEventName, BrokerEvents } from "../plugins/types.ts";
import type { Logger } from "../log.ts";

/** Listeners by event name. */
export class EventHub {
  #listeners = new Map<BrokerEventName, Set<(...args: never[]) => void | Promise<void>>>();

  constructor(readonly logger: Logger) {}

  /** Adds a listener. */
  on<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener as (...args: never[]) => void | Promise<void>);
  }

  /** Removes a listener. */
  off<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): void {
    this.#listeners.get(event)?.delete(listener as (...args: never[]) => void | Promise<void>);
  }

  /** Whether anyone listens, so that callers can skip building the arguments. */
  listens(event: BrokerEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /** Calls every listener of `event`. */
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        const result: unknown = (listener as BrokerEventHandler<E>)(...args);
        // Only a rejection is a failure: a listener written `(c) => seen.push(c)` returns a
        // number, and a thenable need not have `catch`.
        if (result !== undefined) {
          Promise.resolve(result).then(undefined, (e) => this.#report(event, e));
        }
      } catch (e) {
        this.#report(event, e);
      }
    }
  }

  #report(event: string, error: unknown): void {
    this.logger.error(
      `a ${event} listener failed: ${error instanceof Error ? error.message : error}`,
    );
  }
}
