/**
 * How many deliveries and retained topics refer to each stored message, so that a message row
 * goes exactly when its last reference does, without a query for it.
 *
 * @module
 */

/**
 * Reference counts of messages by id. The references a restart reads (hundreds of thousands)
 * go into a sorted array, which costs far less to fill than a map; later ones into a map.
 */
export class RefCounts {
  /** Ids read at load, as read; sorted into {@link RefCounts.#ids} at the next look-up. */
  #read = new Float64Array(1024);
  #readLength = 0;
  /** Ids read at load, sorted and unique, with their counts. */
  #ids = new Float64Array(0);
  #counts = new Uint32Array(0);
  /**
   * Counts of messages not read at load, each in a box: dropping one of many references is one
   * look-up, not a look-up and a store.
   */
  #more = new Map<number, { n: number }>();
  /**
   * References to `#lastId` not counted in place yet: a fan-out adds one id once per
   * subscriber in a row, and that costs one look-up rather than one each.
   */
  #lastId = -1;
  #lastAdds = 0;

  /** Counts a reference read from the store at load. */
  read(id: number): void {
    if (this.#readLength === this.#read.length) {
      const grown = new Float64Array(this.#read.length * 2);
      grown.set(this.#read);
      this.#read = grown;
    }
    this.#read[this.#readLength++] = id;
  }

  add(id: number): void {
    if (id === this.#lastId) {
      this.#lastAdds++;
      return;
    }
    this.#settleAdds();
    this.#lastId = id;
    this.#lastAdds = 1;
  }

  #settleAdds(): void {
    const n = this.#lastAdds;
    if (n === 0) return;
    this.#lastAdds = 0;
    const id = this.#lastId;
    const i = this.#index(id);
    if (i >= 0) this.#counts[i] += n;
    else {
      const count = this.#more.get(id);
      if (count) count.n += n;
      else this.#more.set(id, { n });
    }
  }

  /** Drops a reference: the count left, or -1 if there was none to drop. */
  drop(id: number): number {
    this.#settleAdds();
    const i = this.#index(id);
    if (i >= 0) return this.#counts[i] === 0 ? -1 : --this.#counts[i];
    const count = this.#more.get(id);
    if (count === undefined) return -1;
    if (--count.n === 0) this.#more.delete(id);
    return count.n;
  }

  has(id: number): boolean {
    this.#settleAdds();
    const i = this.#index(id);
    return i >= 0 ? this.#counts[i] > 0 : this.#more.has(id);
  }

  /** Where `id` is in the ids read at load, or -1. */
  #index(id: number): number {
    if (this.#readLength > 0) this.#settle();
    const ids = this.#ids;
    let lo = 0;
    let hi = ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid] < id) lo = mid + 1;
      else if (ids[mid] > id) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  #settle(): void {
    // Counts made before this load are merged in: each id has its count in one place only.
    const earlier = this.#ids;
    const earlierCounts = this.#counts;
    this.#ids = new Float64Array(0);
    for (let i = 0; i < earlier.length; i++) {
      for (let n = earlierCounts[i]; n > 0; n--) this.read(earlier[i]);
    }
    const read = this.#read.subarray(0, this.#readLength).sort();
    let unique = 0;
    for (let i = 0; i < read.length; i++) if (i === 0 || read[i] !== read[i - 1]) unique++;
    const ids = new Float64Array(unique);
    const counts = new Uint32Array(unique);
    for (let i = 0, j = -1; i < read.length; i++) {
      if (i === 0 || read[i] !== read[i - 1]) ids[++j] = read[i];
      counts[j]++;
    }
    this.#ids = ids;
    this.#counts = counts;
    this.#read = new Float64Array(1024);
    this.#readLength = 0;
    for (const [id, { n }] of this.#more) {
      const i = this.#index(id);
      if (i < 0) continue;
      counts[i] += n;
      this.#more.delete(id);
    }
  }
}
