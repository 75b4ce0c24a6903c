/**
 * A first-in first-out queue that takes and gives at both ends in constant time, so that draining
 * a long backlog (a session's queue, a bridge's) does not copy it once per message as
 * `Array.shift` can.
 *
 * @module
 */

/** Below this many taken slots the array is not worth compacting. */
const COMPACT_AT = 1024;

/**
 * What an empty FIFO holds instead of an array of its own: most of them (a session's queue) are
 * empty nearly always. Never added to: the first item replaces it.
 */
const NO_ITEMS: never[] = [];

/** A FIFO, with `unshift` for putting an item back at the head. */
export class Fifo<T> {
  #items: (T | undefined)[] = NO_ITEMS;
  #head = 0;

  /** Number of items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds at the tail. */
  push(item: T): void {
    if (this.#items === NO_ITEMS) this.#items = [item];
    else this.#items.push(item);
  }

  /** Puts back at the head. */
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else if (this.#items === NO_ITEMS) this.#items = [item];
    else this.#items.unshift(item);
  }

  /** The item at the head, left there. */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** Takes from the head. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Drained: the array goes too, rather than waiting empty for the next item.
    if (this.#head === this.#items.length) this.clear();
    else if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The items, head first, left in place. */
  *[Symbol.iterator](): Generator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!;
  }

  /** Empties it. */
  clear(): void {
    this.#items = NO_ITEMS;
    this.#head = 0;
  }

  /** Removes and returns the items `take` selects, keeping the others in order. */
  extract(take: (item: T) => boolean): T[] {
    const taken: T[] = [];
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i]!;
      (take(item) ? taken : kept).push(item);
    }
    this.#items = kept.length > 0 ? kept : NO_ITEMS;
    this.#head = 0;
    return taken;
  }
}
