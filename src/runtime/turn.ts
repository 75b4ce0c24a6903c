/**
 * How the core gives other connections a turn in the middle of one connection's burst, which the
 * runtimes differ on. Node and Bun poll sockets between rounds of immediates, so a burst handled in
 * slices, an immediate apart, lets the other connections' packets in between. Deno runs immediates
 * without polling sockets in between (only every hundred or so), so there slices would only cost
 * writes: a burst is handled whole.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Packets of one connection handled before the others get a turn. */
export const PACKETS_PER_TURN: number = "Deno" in globalThis ? Infinity : 16;

/** Resolves after the I/O that is ready has been handled. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs `callback` at the end of this turn, after every slice queued so far: what the slices of a
 * turn write goes in one write per connection rather than one per slice.
 */
export function endOfTurn(callback: () => void): void {
  setImmediate(callback);
}

/**
 * Runs `callback` on a later turn, after the socket I/O that is ready by then has been handled:
 * an immediate, or on Deno, whose immediates do not poll sockets, a timer.
 */
export const afterIo: (callback: () => void) => void = "Deno" in globalThis
  ? (callback) => setTimeout(callback, 0)
  : setImmediate;
