/**
 * Deadlines of many items (disconnected sessions), checked often and cheaply: a binary min-heap,
 * so finding what is due costs O(1) when nothing is, and setting or clearing one costs O(log n).
 *
 * @module
 */

/** Items of type `T`, each with at most one deadline (a time in ms, as `Date.now()` gives). */
export class ExpiryQueue<T> {
  #heap: { item: T; at: number }[] = [];
  /** Where each item is in the heap, so that it can be moved or removed. */
  #index = new Map<T, number>();

  /** Number of items with a deadline. */
  get size(): number {
    return this.#heap.length;
  }

  /** Sets or moves `item`'s deadline. */
  set(item: T, at: number): void {
    const i = this.#index.get(item);
    if (i === undefined) {
      this.#heap.push({ item, at });
      this.#index.set(item, this.#heap.length - 1);
      this.#up(this.#heap.length - 1);
      return;
    }
    this.#heap[i].at = at;
    this.#down(this.#up(i));
  }

  /** Clears `item`'s deadline, if it has one. */
  delete(item: T): void {
    const i = this.#index.get(item);
    if (i === undefined) return;
    this.#index.delete(item);
    const last = this.#heap.pop()!;
    if (i === this.#heap.length) return;
    this.#heap[i] = last;
    this.#index.set(last.item, i);
    this.#down(this.#up(i));
  }

  /** Removes and returns an item whose deadline is at or before `now`, soonest first. */
  pop(now: number): T | undefined {
    const first = this.#heap[0];
    if (!first || first.at > now) return undefined;
    this.delete(first.item);
    return first.item;
  }

  #swap(a: number, b: number): void {
    const heap = this.#heap;
    [heap[a], heap[b]] = [heap[b], heap[a]];
    this.#index.set(heap[a].item, a);
    this.#index.set(heap[b].item, b);
  }

  /** Moves entry `i` towards the root while it is sooner than its parent; returns where it ends. */
  #up(i: number): number {
    const heap = this.#heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= heap[i].at) break;
      this.#swap(i, parent);
      i = parent;
    }
    return i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && heap[left].at < heap[least].at) least = left;
      if (right < heap.length && heap[right].at < heap[least].at) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }
}
