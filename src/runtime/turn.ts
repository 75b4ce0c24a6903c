/**
 * The two ways the core hands work to a later moment of the event loop, which the runtimes
 * differ on. Node and Bun poll sockets between rounds of immediates; Deno runs immediates without
 * polling sockets in between (it polls only every hundred or so), so there an immediate is no turn
 * for other connections, and output deferred to one waits behind them.
 *
 * @module
 */
import { setImmediate } from "node:timers";

const DENO = "Deno" in globalThis;

/** Resolves after the I/O that is ready has been handled (on Deno: after queued immediates). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs `callback` at the end of this turn, after every slice of {@link nextTurn} queued so far:
 * output written then is one write per connection per turn rather than one per slice. On Deno, a
 * microtask: what is queued behind immediates there can wait through many of them.
 */
export function endOfTurn(callback: () => void): void {
  if (DENO) queueMicrotask(callback);
  else setImmediate(callback);
}
