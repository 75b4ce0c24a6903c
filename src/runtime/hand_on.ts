/**
 * New connections handed on to the broker in slices of {@link HAND_ON_SLICE_MS}, the other
 * sockets' I/O polled in between (see `afterIo`). Setting a connection up (its transport, its
 * client, its first read) costs tens of microseconds: a storm of a thousand handed on in one go
 * kept the connected clients' packets waiting 15 ms and more. Accepting goes on at full speed
 * meanwhile, so that a storm does not overflow the listen backlog (a dropped SYN costs its client
 * a second); only the handing on waits, in arrival order.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { afterIo } from "./turn.ts";

/** Time a slice hands connections on before the other sockets' I/O gets its turn. */
export const HAND_ON_SLICE_MS = 1;

/**
 * A connection offered this long after the last was handed on starts a slice of its own. A
 * storm's connections come back to back, microseconds apart; a client connecting after another
 * on loopback comes a round trip later, about 0.3 ms. With the slice's length as the pause, a
 * steady sequence of such clients ran past each slice, and on Deno every fourth waited for a
 * timer (2 to 4 ms before its CONNACK).
 */
const PAUSE_MS = 0.25;

/** Accepted connections a {@link HandOn} holds at most before {@link HandOn.room} holds the accepting back. */
export const MAX_WAITING = 1024;

/** The connections of one listener on their way to the broker. */
export class HandOn<T> {
  readonly #deliver: (conn: T) => void;
  /** Accepted, in arrival order, waiting for the next slice. */
  #waiting: T[] = [];
  /** When the current slice is spent (performance.now()). */
  #sliceEnds = 0;
  /** When the last connection was handed on. */
  #handedOnAt = -Infinity;
  #scheduled = false;
  #closed = false;
  #room: (() => void) | undefined;

  /** `deliver` sets a connection up and hands it on. */
  constructor(deliver: (conn: T) => void) {
    this.#deliver = deliver;
  }

  /** Hands `conn` on now if its slice has time left, or in a later slice. */
  offer(conn: T): void {
    const now = performance.now();
    // A connection after a pause starts a slice; one of a burst past its slice waits for the next.
    if (now - this.#handedOnAt > PAUSE_MS) this.#sliceEnds = now + HAND_ON_SLICE_MS;
    if (this.#waiting.length === 0 && now < this.#sliceEnds) {
      this.#deliver(conn);
      this.#handedOnAt = performance.now();
      return;
    }
    this.#waiting.push(conn);
    if (this.#scheduled) return;
    this.#scheduled = true;
    afterIo(() => this.#slice());
  }

  /**
   * Resolves once fewer than {@link MAX_WAITING} wait: an accept loop that awaits it leaves the
   * rest of a flood in the kernel's backlog.
   */
  room(): Promise<void> {
    if (this.#waiting.length < MAX_WAITING || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#room = resolve);
  }

  /** Hands nothing on any more; returns the connections that were waiting, for closing. */
  close(): T[] {
    this.#closed = true;
    this.#room?.();
    return this.#waiting.splice(0);
  }

  #slice(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    this.#sliceEnds = performance.now() + HAND_ON_SLICE_MS;
    const waiting = this.#waiting;
    let i = 0;
    while (i < waiting.length && (i === 0 || performance.now() < this.#sliceEnds)) {
      this.#deliver(waiting[i++]);
    }
    this.#handedOnAt = performance.now();
    this.#waiting = waiting.slice(i);
    if (this.#waiting.length > 0) {
      this.#scheduled = true;
      afterIo(() => this.#slice());
    }
    if (this.#waiting.length < MAX_WAITING) {
      this.#room?.();
      this.#room = undefined;
    }
  }
}
