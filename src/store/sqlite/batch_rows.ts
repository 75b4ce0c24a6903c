/**
 * Rows of the pending batch by session and seq. A session's seqs grow by one per record, so a
 * batch's rows of one session are mostly a run: they sit in an array from the first seq on, and
 * each record costs one look-up of its session and an index, where a map per session cost a hash
 * look-up, insertion and deletion per record (a tenth of the event loop in a fan-out on Bun).
 *
 * @module
 */

/** Seqs beyond the end of a session's run by more than this go to its map instead. */
const MAX_GAP = 1024;

/** One session's rows: a run from `base`, holes where rows were taken, and the rest by seq. */
class SessionRows<T> {
  base = 0;
  readonly run: (T | undefined)[] = [];
  other: Map<number, T> | undefined;

  take(seq: number): T | undefined {
    const at = seq - this.base;
    if (at >= 0 && at < this.run.length) {
      const row = this.run[at];
      this.run[at] = undefined;
      return row;
    }
    const row = this.other?.get(seq);
    if (row !== undefined) this.other!.delete(seq);
    return row;
  }

  put(seq: number, row: T): void {
    if (this.run.length === 0 && this.other === undefined) this.base = seq;
    const at = seq - this.base;
    if (at >= 0 && at <= this.run.length + MAX_GAP) {
      while (this.run.length < at) this.run.push(undefined);
      this.run[at] = row;
    } else (this.other ??= new Map()).set(seq, row);
  }

  forEach(visit: (row: T, seq: number) => void): void {
    for (let at = 0; at < this.run.length; at++) {
      const row = this.run[at];
      if (row !== undefined) visit(row, this.base + at);
    }
    this.other?.forEach(visit);
  }
}

/** Rows by session and seq; see the module's comment. */
export class BatchRows<T> {
  readonly #sessions = new Map<string, SessionRows<T>>();

  /** The row at `seq` of `clientId`, taken out. */
  take(clientId: string, seq: number): T | undefined {
    return this.#sessions.get(clientId)?.take(seq);
  }

  put(clientId: string, seq: number, row: T): void {
    let session = this.#sessions.get(clientId);
    if (session === undefined) this.#sessions.set(clientId, session = new SessionRows());
    session.put(seq, row);
  }

  /** Takes out every row of `clientId`, visiting each. */
  takeSession(clientId: string, visit: (row: T) => void): void {
    const session = this.#sessions.get(clientId);
    if (session === undefined) return;
    this.#sessions.delete(clientId);
    session.forEach(visit);
  }

  /** Visits every row, a session's in order of seq (those far from its run after). */
  forEach(visit: (row: T, clientId: string, seq: number) => void): void {
    for (const [clientId, session] of this.#sessions) {
      session.forEach((row, seq) => visit(row, clientId, seq));
    }
  }

  clear(): void {
    this.#sessions.clear();
  }
}
