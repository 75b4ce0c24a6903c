/**
 * The CONNECTs of new connections in slices of {@link SLICE_MS} per turn of the event loop. A
 * storm of a thousand CONNECTs read in one turn would otherwise be handled in one go, and the
 * packets of connected clients read in the same turn would wait behind all of them; so past
 * the slice, CONNECTs wait in arrival order for later turns, with the I/O of connected clients
 * handled in between.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { afterIo, endOfTurn } from "../runtime/turn.ts";
import { Fifo } from "./fifo.ts";

/** Time a turn gives to CONNECTs of new connections before the others wait for the next. */
const SLICE_MS = 1;

/** CONNECTs past their turn's slice, in arrival order: each resumes its connection's reading. */
const waiting = new Fifo<() => void>();
/** When the current slice is spent (performance.now()). */
let sliceEnds = 0;
/** A slice is under way: its end, at the end of this turn, is scheduled. */
let inSlice = false;
/** The waiting CONNECTs' next slice is scheduled, after the I/O ready by then. */
let draining = false;

/**
 * Whether a new connection's CONNECT may be handled now; if not, `later` runs when its turn
 * comes (CONNECTs keep their arrival order, which takeovers depend on).
 */
export function connectNow(later: () => void): boolean {
  if (waiting.length === 0) {
    if (!inSlice) {
      beginSlice();
      return true;
    }
    if (performance.now() < sliceEnds) return true;
  }
  waiting.push(later);
  return false;
}

function beginSlice(): void {
  inSlice = true;
  sliceEnds = performance.now() + SLICE_MS;
  endOfTurn(endSlice);
}

/**
 * The turn is over. An immediate marks it, which costs little on every runtime; the slice for
 * the CONNECTs that wait comes after the sockets were polled, which on Deno needs a timer.
 */
function endSlice(): void {
  inSlice = false;
  if (waiting.length === 0 || draining) return;
  draining = true;
  afterIo(drain);
}

function drain(): void {
  draining = false;
  if (waiting.length === 0) return;
  beginSlice();
  do waiting.shift()!(); while (waiting.length > 0 && performance.now() < sliceEnds);
}

/**
 * Runs `step`, the rest of a CONNECT whose authentication was pending, in a CONNECT slice: the
 * checks of a storm end in bursts (a batch of digests at once), and what follows each (the
 * session, CONNACK) waits its turn like a new CONNECT rather than holding up connected clients.
 */
export function inTurn<T>(step: () => T | Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const run = (): void => {
      try {
        resolve(step());
      } catch (error) {
        reject(error);
      }
    };
    if (connectNow(run)) run();
  });
}
