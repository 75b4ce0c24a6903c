/**
 * How the core gives other connections a turn in the middle of one connection's burst, which the
 * runtimes differ on. Node and Bun poll sockets between rounds of immediates, so a burst handled in
 * slices, an immediate apart, lets the other connections' packets in between.
 *
 * Deno polls sockets only once nothing is left to run: immediates, and reads of sockets that still
 * hold data, all come first. A slice there must wait for a timer, which fires only after a poll,
 * and a timer costs a millisecond: so Deno slices only while a session waits for the
 * acknowledgements of a client that is still sending, with its queue near its bound
 * ({@link awaitingAcks}), which is when reading that client sooner is worth it. Otherwise a burst
 * is handled whole.
 *
 * @module
 */
import { setImmediate } from "node:timers";

const DENO = "Deno" in globalThis;

/** Packets of one connection handled before the others get a turn, when {@link sliceDue}. */
export const PACKETS_PER_TURN = 16;

/** On Deno: a session asked for its client's acknowledgements since the last slice's timer. */
let acksAwaited = false;
/** On Deno: the timer the connections slicing now wait for, one for all of them. */
let round: Promise<void> | undefined;

/**
 * Says that a session's queue is near its bound while its client is acknowledging: reading its
 * acknowledgements sooner is what keeps messages from being dropped. On Deno, connections
 * that spend {@link PACKETS_PER_TURN} slice their bursts until the next slice's timer fires.
 */
export function awaitingAcks(): void {
  acksAwaited = true;
}

/** Whether {@link awaitingAcks} is in effect (always, where slicing is cheap). */
export function sliceDue(): boolean {
  return !DENO || acksAwaited;
}

/** Resolves after the I/O that is ready has been handled. */
export function nextTurn(): Promise<void> {
  if (!DENO) return new Promise((resolve) => setImmediate(resolve));
  return round ??= new Promise((resolve) =>
    setTimeout(() => {
      round = undefined;
      acksAwaited = false;
      resolve();
    }, 0)
  );
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
export const afterIo: (callback: () => void) => void = DENO
  ? (callback) => setTimeout(callback, 0)
  : setImmediate;
