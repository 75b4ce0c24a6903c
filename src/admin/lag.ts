/**
 * Event-loop lag, measured cheaply: a timer that should fire every {@link LAG_INTERVAL_MS} notes
 * how late it ran. The figure is the worst delay of the last {@link LAG_WINDOW} ticks, so a scrape
 * sees a stall that happened between two scrapes and no scraper changes what another sees.
 *
 * @module
 */

/** How often the timer runs. */
export const LAG_INTERVAL_MS = 500;

/** Ticks remembered: ten seconds' worth. */
export const LAG_WINDOW = 20;

/** A running lag monitor; `stop()` clears its timer. */
export class LagMonitor {
  readonly #delays = new Float64Array(LAG_WINDOW);
  #next = 0;
  #expected: number;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor() {
    this.#expected = performance.now() + LAG_INTERVAL_MS;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#delays[this.#next] = Math.max(0, now - this.#expected);
      this.#next = (this.#next + 1) % LAG_WINDOW;
      this.#expected = now + LAG_INTERVAL_MS;
    }, LAG_INTERVAL_MS);
    // Measuring must never be what keeps a process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The worst delay of the window, in seconds. */
  get seconds(): number {
    let worst = 0;
    for (const delay of this.#delays) if (delay > worst) worst = delay;
    return worst / 1000;
  }

  /** Stops measuring; idempotent. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
