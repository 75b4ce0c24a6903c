/**
 * The broker's open connections, kept for closing them all at shutdown. An array in which each
 * member keeps its own place, rather than a Set: a Set's entry costs about 100 bytes per
 * connection on Bun (JSC's hash storage, measured at 5,000), a place here two slots.
 *
 * @module
 */

/** What a {@link ConnectionList} holds: a member that keeps its place in it. */
export interface Listed {
  /** Its place in the list; -1 while it is in none. Only {@link ConnectionList} sets it. */
  listIndex: number;
}

/** Members in no particular order, added, removed and counted in constant time. */
export class ConnectionList<T extends Listed> {
  #items: T[] = [];

  /** How many members it has. */
  get size(): number {
    return this.#items.length;
  }

  /** Adds `item` unless it is a member already. */
  add(item: T): void {
    if (item.listIndex >= 0) return;
    item.listIndex = this.#items.length;
    this.#items.push(item);
  }

  /** Removes `item`; false if it was not a member. The last member takes its place. */
  delete(item: T): boolean {
    const index = item.listIndex;
    if (index < 0 || this.#items[index] !== item) return false;
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[index] = last;
      last.listIndex = index;
    }
    item.listIndex = -1;
    return true;
  }

  /** The members as they are now; removing members meanwhile does not change it. */
  snapshot(): T[] {
    return this.#items.slice();
  }
}
