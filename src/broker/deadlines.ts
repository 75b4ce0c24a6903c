/**
 * The connections' timeouts (connect, keepalive, write) as buckets by deadline, so that a tick
 * looks only at the connections whose check is due, never at every connection.
 *
 * Rescheduling is lazy: a packet read only stamps the connection's `lastRead`; when its bucket
 * comes, the connection says when it is next due (keepalive counted from that stamp) and goes
 * into that bucket again. An idle connection is so looked at about once per keepalive period,
 * whatever the number of connections.
 *
 * A connection is in at most one bucket, at a known index, so that it leaves in O(1) when it
 * closes: a closed connection left in its bucket until the bucket's tick would keep its whole
 * graph (socket, buffers, session) alive that long, and at thousands of connections a second
 * that is megabytes promoted to the old generation and collected there.
 *
 * @module
 */

/** What the buckets hold. */
export interface Timed {
  /**
   * Closes the connection if a timeout passed by `now`; otherwise returns when it is next due
   * (Infinity: not until something reschedules it). Returns Infinity once closed.
   */
  checkTimers(now: number): number;
  /** The bucket it is in, 0 for none; only {@link Deadlines} sets it. */
  dueBucket: number;
  /** Its index in that bucket; only {@link Deadlines} sets it. */
  dueIndex: number;
}

/** Connections' next checks, bucketed by deadline at a granularity of `tickMs`. */
export class Deadlines {
  readonly #tickMs: number;
  readonly #buckets = new Map<number, Timed[]>();
  /** Every bucket up to this one has run. */
  #ran: number;

  constructor(tickMs: number, now: number = Date.now()) {
    this.#tickMs = tickMs;
    this.#ran = Math.floor(now / tickMs);
  }

  /**
   * Makes sure `item` is checked by `at` (at most a tick later): a check already due earlier
   * stands, and the check reschedules from there.
   */
  schedule(item: Timed, at: number): void {
    if (at === Infinity) return;
    const bucket = Math.max(Math.ceil(at / this.#tickMs), this.#ran + 1);
    if (item.dueBucket !== 0) {
      if (item.dueBucket <= bucket) return;
      this.#remove(item);
    }
    item.dueBucket = bucket;
    const list = this.#buckets.get(bucket);
    if (list) {
      item.dueIndex = list.length;
      list.push(item);
    } else {
      item.dueIndex = 0;
      this.#buckets.set(bucket, [item]);
    }
  }

  /** Forgets `item` (its connection closed), so that nothing here holds it any more. */
  cancel(item: Timed): void {
    if (item.dueBucket === 0) return;
    this.#remove(item);
    item.dueBucket = 0;
  }

  /** Takes `item` out of its bucket, the last entry taking its place. */
  #remove(item: Timed): void {
    // A bucket that is running is already out of the map: its loop skips what left it.
    const list = this.#buckets.get(item.dueBucket);
    if (!list) return;
    const last = list.pop()!;
    if (last !== item) {
      list[item.dueIndex] = last;
      last.dueIndex = item.dueIndex;
    } else if (list.length === 0) this.#buckets.delete(item.dueBucket);
  }

  /** Checks what is due by `now`. */
  run(now: number): void {
    const last = Math.floor(now / this.#tickMs);
    // A late tick runs the buckets it missed; a far jump of the clock only those that exist.
    if (last - this.#ran > this.#buckets.size) {
      const due = [...this.#buckets.keys()].filter((bucket) => bucket <= last);
      // Set first, so that what the checks reschedule goes after `last`.
      this.#ran = last;
      for (const bucket of due.sort((a, b) => a - b)) this.#runBucket(bucket, now);
      return;
    }
    while (this.#ran < last) this.#runBucket(++this.#ran, now);
  }

  #runBucket(bucket: number, now: number): void {
    const list = this.#buckets.get(bucket);
    if (!list) return;
    this.#buckets.delete(bucket);
    for (const item of list) {
      if (item.dueBucket !== bucket) continue;
      item.dueBucket = 0;
      this.schedule(item, item.checkTimers(now));
    }
  }

  /** Forgets everything (the broker stops). */
  clear(): void {
    for (const list of this.#buckets.values()) for (const item of list) item.dueBucket = 0;
    this.#buckets.clear();
  }
}
