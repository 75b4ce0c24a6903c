/**
 * A connection's output that waits for commits: from a held acknowledgement on, everything
 * waits, so that the order on the wire stays the order sent. A commit runs while the broker goes
 * on, so an acknowledgement sent while output waits for one commit may need the next: it then
 * waits for its own, and the output is released a part per commit, oldest first.
 *
 * @module
 */

/** Output held for commits; see the module's comment. */
export class HeldOutput {
  #chunks: Uint8Array[] | undefined;
  /** Where each part after the first starts in {@link HeldOutput.#chunks}. */
  #marks: number[] = [];
  /** The commit the newest part waits for. */
  #commit = 0;
  /** Bytes held. */
  bytes = 0;

  /** Whether anything is held. */
  get holding(): boolean {
    return this.#chunks !== undefined;
  }

  /**
   * Holds `bytes` if they must wait: while output is held, or when `promise` (they acknowledge
   * something stored) and `hold` registers a release. `commit` numbers the commit a promise
   * made now waits for (see `BrokerContext.pendingCommit`): a later one than the newest part
   * waits for registers another release with `hold`. Returns whether `bytes` are held.
   */
  take(bytes: Uint8Array, promise: boolean, commit: number, hold: () => boolean): boolean {
    if (this.#chunks === undefined) {
      if (!promise || !hold()) return false;
      this.#chunks = [];
      this.#commit = commit;
    } else if (promise && commit > this.#commit && hold()) {
      this.#marks.push(this.#chunks.length);
      this.#commit = commit;
    }
    this.#chunks.push(bytes);
    this.bytes += bytes.length;
    return true;
  }

  /** The oldest part, whose release came; empty if nothing is held. */
  release(): Uint8Array[] {
    const chunks = this.#chunks;
    if (chunks === undefined) return [];
    const end = this.#marks.shift();
    if (end === undefined) {
      this.clear();
      return chunks;
    }
    for (let i = 0; i < this.#marks.length; i++) this.#marks[i] -= end;
    const part = chunks.splice(0, end);
    for (const bytes of part) this.bytes -= bytes.length;
    return part;
  }

  /** Drops everything held (the connection is gone). */
  clear(): void {
    this.#chunks = undefined;
    this.#marks = [];
    this.#commit = 0;
    this.bytes = 0;
  }
}
