/**
 * The thread that commits the SQLite store's batches, so that a transaction (and its fsync under
 * `sync: full`) never stalls the event loop. It owns a second connection to the same file (WAL
 * lets the main thread's connection read beside it) and runs each batch it is posted in one
 * transaction. Like the hashing pool (`src/plugins/password/pool.ts`), its program is source
 * text run with `eval: true`, so that it works from source, from the esbuild bundles in `dist/`
 * and inside the executable `bun build --compile` makes; it imports only `node:sqlite`.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { SQLInputValue } from "./driver.ts";

/** What the writer prepares once, at its start: every shape of statement a batch may name. */
export interface WriterSetup {
  file: string;
  sync: "FULL" | "NORMAL";
  /** Run one row at a time; a `read` one returns rows whose `id` column is a message id. */
  statements: { sql: string; params: number; read: boolean }[];
  /** Multi-row INSERTs: the statement up to `VALUES`, and the values a row has. */
  inserts: { head: string; columns: number }[];
  /**
   * Multi-row DELETEs: the statement up to the last key's `IN (...)` (or `BETWEEN`, for a run of
   * keys), and the values before it.
   */
  deletes: { head: string; prefix: number }[];
  /**
   * Rows (or keys) per call of the multi-row statements, largest first, ending with 1: a batch's
   * rows go through the largest that fits, then the next, so that few calls bind many values.
   */
  bulkSizes: number[];
}

/** Tags of the operations in {@link WriterBatch.ops}. */
export const OP = {
  /** `RUN, statement, ...params` */
  run: 0,
  /** `INSERT, insert, rows, ...values` */
  insert: 1,
  /** `DELETE, delete, ...prefix, keys, ...keys, runs, ...(first, last) per run`: see {@link pushDelete} */
  delete: 2,
} as const;

/** Consecutive keys from this many on are deleted as one range rather than key by key. */
const MIN_RUN = 4;

/**
 * Appends to `ops` the deletion of `keys` (integers, each once; sorted here, in place) by
 * multi-row DELETE `statement`. Runs of consecutive keys become one `BETWEEN` each: the acks
 * of a subscriber and the messages they free come mostly in order, and SQLite removes a range
 * for a fraction of what a lookup per key costs (a third, on Deno).
 */
export function pushDelete(
  ops: SQLInputValue[],
  statement: number,
  prefix: readonly SQLInputValue[],
  keys: number[],
): void {
  keys.sort((a, b) => a - b);
  ops.push(OP.delete, statement, ...prefix, 0);
  const countAt = ops.length - 1;
  const runs: number[] = [];
  for (let i = 0; i < keys.length;) {
    let end = i + 1;
    while (end < keys.length && keys[end] === keys[end - 1] + 1) end++;
    if (end - i >= MIN_RUN) runs.push(keys[i], keys[end - 1]);
    else for (let k = i; k < end; k++) ops.push(keys[k]);
    i = end;
  }
  ops[countAt] = ops.length - countAt - 1;
  ops.push(runs.length / 2);
  for (const key of runs) ops.push(key);
}

/** One transaction, as plain data: operations in a flat array, and the pages to vacuum after. */
export interface WriterBatch {
  ops: SQLInputValue[];
  /**
   * Where in `ops` each blob (`Uint8Array`) is, so that sending the batch finds them without
   * looking at every value; a blob elsewhere would be sent as an object.
   */
  blobAt: number[];
  /** Free pages to give back after the commit; 0 for none. */
  vacuum: number;
}

/**
 * What the writer answers: ready once; per batch the message ids its reads returned, if any,
 * while the transaction waits for the operations they call for; then done, or why it failed.
 */
type Reply = "ready" | "closed" | "done" | { read: number[] } | { error: string };

/**
 * Operations as the thread receives them: JSON text of `[blobAt, ops]`, with each blob's length
 * in its place in `ops`, and one buffer of the blobs one after another. Structured cloning an
 * array of many values, and a typed array at all, costs Deno many times what a string and a
 * plain buffer cost (Node and Bun less so); and only the blobs' places are visited, not every
 * value (a batch of a fan-out holds tens of thousands).
 */
interface Wire {
  text: string;
  blobs: ArrayBuffer;
  /** Free pages to give back after the commit; absent in a follow-up. */
  vacuum?: number;
}

/** `ops` as the thread receives them; each blob is copied once, into the wire's buffer. */
function toWire(ops: SQLInputValue[], blobAt: readonly number[], vacuum?: number): Wire {
  let size = 0;
  for (const at of blobAt) size += (ops[at] as Uint8Array).byteLength;
  const blobs = new Uint8Array(size);
  const taken: SQLInputValue[] = [];
  let offset = 0;
  // Each blob gives way to its length while the text is made, and is put back after: the
  // caller keeps the batch whole, to retry it.
  for (const at of blobAt) {
    const blob = ops[at] as Uint8Array;
    blobs.set(blob, offset);
    offset += blob.byteLength;
    taken.push(blob);
    ops[at] = blob.byteLength;
  }
  try {
    return { text: JSON.stringify([blobAt, ops]), blobs: blobs.buffer, vacuum };
  } finally {
    for (let i = 0; i < blobAt.length; i++) ops[blobAt[i]] = taken[i];
  }
}

/**
 * The writer's program. Each batch is answered in order; a batch that fails is rolled back
 * whole. An error opening the file answers every batch with it.
 */
const WRITER_SOURCE = `(async () => {
  const { parentPort, workerData: setup } = await import("node:worker_threads");
  let db, run;
  try {
    const { DatabaseSync } = await import("node:sqlite");
    db = new DatabaseSync(setup.file);
    db.exec("PRAGMA synchronous = " + setup.sync);
    const marks = (n) => Array(n).fill("?").join(", ");
    const statements = setup.statements.map((s) => ({ ...s, statement: db.prepare(s.sql) }));
    const inserts = setup.inserts.map(({ head, columns }) => {
      const row = "(" + marks(columns) + ")";
      return {
        columns,
        sizes: setup.bulkSizes.map((n) => [n, db.prepare(head + " VALUES " + Array(n).fill(row).join(", "))]),
      };
    });
    const deletes = setup.deletes.map(({ head, prefix }) => ({
      prefix,
      sizes: setup.bulkSizes.map((n) => [n, db.prepare(head + " IN (" + marks(n) + ")")]),
      range: db.prepare(head + " BETWEEN ? AND ?"),
    }));
    // A wire's operations, with blobs as views of its buffer.
    const opsOf = (wire) => {
      const [blobAt, ops] = JSON.parse(wire.text);
      let offset = 0;
      for (const at of blobAt) {
        const length = ops[at];
        ops[at] = new Uint8Array(wire.blobs, offset, length);
        offset += length;
      }
      return ops;
    };
    run = (wire, read) => {
      const ops = opsOf(wire);
      for (let i = 0; i < ops.length;) {
        const tag = ops[i++];
        if (tag === ${OP.run}) {
          const s = statements[ops[i++]];
          const params = ops.slice(i, i += s.params);
          if (!s.read) s.statement.run(...params);
          else for (const row of s.statement.all(...params)) read.push(Number(row.id));
        } else if (tag === ${OP.insert}) {
          const s = inserts[ops[i++]];
          let rows = ops[i++];
          for (const [n, statement] of s.sizes) {
            for (; rows >= n; rows -= n) statement.run(...ops.slice(i, i += n * s.columns));
          }
        } else {
          const s = deletes[ops[i++]];
          const prefix = ops.slice(i, i += s.prefix);
          let keys = ops[i++];
          for (const [n, statement] of s.sizes) {
            for (; keys >= n; keys -= n) statement.run(...prefix, ...ops.slice(i, i += n));
          }
          for (let runs = ops[i++]; runs > 0; runs--) s.range.run(...prefix, ops[i++], ops[i++]);
        }
      }
    };
  } catch (error) {
    const failed = error.message;
    parentPort.on("message", (message) => {
      parentPort.postMessage(message === "close" ? "closed" : { error: failed });
    });
    parentPort.postMessage("ready");
    return;
  }
  // The batch whose transaction waits for the follow-up its reads called for.
  let open;
  parentPort.on("message", (message) => {
    if (message === "close") {
      db.close();
      parentPort.postMessage("closed");
      return;
    }
    const batch = open ?? message;
    open = undefined;
    try {
      if (batch === message) {
        db.exec("BEGIN");
        const read = [];
        run(batch, read);
        if (read.length > 0) {
          open = batch;
          parentPort.postMessage({ read });
          return;
        }
      } else run(message, []);
      db.exec("COMMIT");
    } catch (error) {
      // SQLite may have rolled back already (a full disk does): then there is nothing to undo.
      try {
        db.exec("ROLLBACK");
      } catch {}
      parentPort.postMessage({ error: error.message });
      return;
    }
    if (batch.vacuum > 0) {
      // Best effort: what one vacuum leaves, the next gives back.
      try {
        db.exec("PRAGMA incremental_vacuum(" + batch.vacuum + ")");
      } catch {}
    }
    parentPort.postMessage("done");
  });
  parentPort.postMessage("ready");
})();`;

/** A batch posted and not answered yet. */
interface Job {
  readonly batch: WriterBatch;
  readonly onRead: (read: number[]) => SQLInputValue[];
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** A running writer thread. */
interface Thread {
  readonly worker: Worker;
  ready: boolean;
}

/**
 * The writer thread, seen from the main thread: one batch at a time. The thread starts at the
 * first batch (a store that is only read starts none) and is not referenced while idle, so it
 * keeps no process alive; a thread that dies fails its batch, and the next batch starts another.
 */
export class CommitWriter {
  readonly #setup: WriterSetup;
  readonly #source: string;
  #thread: Thread | undefined;
  #job: Job | undefined;
  #onClosed: (() => void) | undefined;

  /** `source` replaces the program; only tests do, to make the thread misbehave. */
  constructor(setup: WriterSetup, source = WRITER_SOURCE) {
    this.#setup = setup;
    this.#source = source;
  }

  /**
   * Runs `batch` in one transaction: resolves once it is committed, rejects with why it could
   * not be (nothing of it is then written). If its reads return message ids, `onRead` is given
   * them, in the transaction, and returns the operations that follow (no blobs among them). The batch is copied, so
   * that the caller keeps it whole to retry. Call again only once the last call settled.
   */
  write(batch: WriterBatch, onRead: (read: number[]) => SQLInputValue[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const job = this.#job = { batch, onRead, resolve, reject };
      const thread = this.#thread ?? this.#start();
      thread.worker.ref();
      if (thread.ready) this.#post(thread, job);
    });
  }

  #post(thread: Thread, job: Job): void {
    const { ops, blobAt, vacuum } = job.batch;
    thread.worker.postMessage(toWire(ops, blobAt, vacuum));
  }

  #start(): Thread {
    const worker = new Worker(this.#source, { eval: true, workerData: this.#setup });
    const thread: Thread = { worker, ready: false };
    this.#thread = thread;
    worker.on("message", (reply: Reply) => {
      if (reply === "closed") return this.#onClosed?.();
      if (reply === "ready") {
        thread.ready = true;
        // Closed before it was ready: it closes now.
        if (this.#thread !== thread) worker.postMessage("close");
        else if (this.#job) this.#post(thread, this.#job);
        return;
      }
      const job = this.#job;
      if (this.#thread !== thread || !job) return;
      if (typeof reply === "object" && "read" in reply) {
        worker.postMessage(toWire(job.onRead(reply.read), []));
        return;
      }
      this.#job = undefined;
      worker.unref();
      if (reply === "done") job.resolve();
      else job.reject(new Error(reply.error));
    });
    const died = (error: Error) => {
      // A thread that dies while closing is closed too.
      this.#onClosed?.();
      if (this.#thread !== thread) return;
      this.#thread = undefined;
      void worker.terminate();
      const job = this.#job;
      this.#job = undefined;
      job?.reject(error);
    };
    worker.on("error", died);
    worker.on(
      "exit",
      (code: number) => died(new Error(`the commit thread exited with code ${code}`)),
    );
    worker.unref();
    return thread;
  }

  /** Closes the thread's connection and ends it; call once no batch is in flight. */
  async close(): Promise<void> {
    const thread = this.#thread;
    if (!thread) return;
    this.#thread = undefined;
    const closed = new Promise<void>((resolve) => this.#onClosed = resolve);
    thread.worker.ref();
    if (thread.ready) thread.worker.postMessage("close");
    await closed;
    await thread.worker.terminate();
  }
}
