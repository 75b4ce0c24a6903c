/**
 * The durable store: one SQLite file through `node:sqlite`, which Deno, Bun and Node all provide,
 * so this module has no per-runtime code. WAL journal; `sync: full` fsyncs every commit (durable
 * against power loss), `normal` only at checkpoints (durable against a process crash). The main
 * thread builds each batch (merging its records) and loads, migrates and counts on its own
 * connection; the batch is committed on a thread of its own (`writer.ts`), so that the event loop
 * never waits for a transaction.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import {
  DatabaseSync,
  type SQLInputValue,
  type SQLOutputValue,
  type StatementSync,
} from "./driver.ts";
import { StoreError } from "../error.ts";
import type {
  Store,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredState,
  StoredSubscription,
  StoredWill,
  StoreFigures,
  StoreSummary,
} from "../types.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.ts";
import { propertiesFromJson, propertiesToJson } from "./properties.ts";
import { RefCounts } from "./refs.ts";
import { BatchRows } from "./batch_rows.ts";
import { CommitWriter, OP, pushDelete, type WriterBatch, type WriterSetup } from "./writer.ts";

/** How the store meets the disk. */
export type SyncMode = "full" | "normal";

/** Commits between two incremental vacuums. */
const VACUUM_EVERY = 1000;

/** Free pages given back to the file system per vacuum. */
const VACUUM_PAGES = 1024;

const SQL = {
  saveSession: `INSERT INTO sessions VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET
    username = excluded.username, protocol = excluded.protocol, expiry_ms = excluded.expiry_ms,
    expires_at = excluded.expires_at`,
  endSession: "DELETE FROM sessions WHERE client_id = ?",
  endWill: "DELETE FROM wills WHERE client_id = ?",
  endSubscriptions: "DELETE FROM subscriptions WHERE client_id = ?",
  endReceiving: "DELETE FROM receiving WHERE client_id = ?",
  sessionMessages: "SELECT DISTINCT message_id AS id FROM deliveries WHERE client_id = ?",
  endDeliveries: "DELETE FROM deliveries WHERE client_id = ?",
  saveWill: "INSERT OR REPLACE INTO wills VALUES (?, ?, ?, ?, ?, ?, ?)",
  saveSubscription: "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  removeSubscription: "DELETE FROM subscriptions WHERE client_id = ? AND filter = ?",
  // A null packet id keeps the one in the file; released stays set once set.
  moveDelivery: `UPDATE deliveries SET seq = ?, packet_id = coalesce(?, packet_id),
    released = max(released, ?) WHERE client_id = ? AND seq = ?`,
  setRetained: "INSERT OR REPLACE INTO retained VALUES (?, ?)",
  clearRetained: "DELETE FROM retained WHERE topic = ?",
  retainedOf: "SELECT message_id AS id FROM retained WHERE topic = ?",
  addReceive: "INSERT OR IGNORE INTO receiving VALUES (?, ?)",
  removeReceive: "DELETE FROM receiving WHERE client_id = ? AND packet_id = ?",
} as const;

/** Statements that return message ids, which the commit's writer reports back. */
const READS = new Set<keyof typeof SQL>(["sessionMessages", "retainedOf"]);

/** Each statement's index in the writer's list (see {@link WriterSetup}). */
const S = Object.fromEntries(Object.keys(SQL).map((name, i) => [name, i])) as {
  [K in keyof typeof SQL]: number;
};

/**
 * Rows per call of the multi-row INSERTs and DELETEs, largest first: one call binding many rows
 * costs less per row than a call each (Deno's `node:sqlite` most of all: a row a call costs it
 * twice what 32 do, and 128 a tenth less again), and the smaller sizes keep the rest of a
 * batch's rows from going one at a time. 128 rows of 9 columns bind 1,152 values, well under
 * SQLite's limit of 32,766.
 */
const BULK_SIZES = [128, 32, 8, 1];

/** The multi-row INSERTs, by their index in the writer's list. */
const INSERT = { deliveries: 0, messages: 1 } as const;

/** The multi-row DELETEs, by their index in the writer's list. */
const DELETE = { deliveries: 0, messages: 1 } as const;

/** What the writer prepares for a store at `file`. */
function writerSetup(file: string, sync: SyncMode): WriterSetup {
  return {
    file,
    sync: sync === "full" ? "FULL" : "NORMAL",
    statements: Object.entries(SQL).map(([name, sql]) => ({
      sql,
      params: sql.split("?").length - 1,
      read: READS.has(name as keyof typeof SQL),
    })),
    inserts: [
      { head: "INSERT OR REPLACE INTO deliveries", columns: 9 },
      { head: "INSERT OR IGNORE INTO messages", columns: 7 },
    ],
    deletes: [
      { head: "DELETE FROM deliveries WHERE client_id = ? AND seq", prefix: 1 },
      { head: "DELETE FROM messages WHERE id", prefix: 0 },
    ],
    bulkSizes: BULK_SIZES,
  };
}

/**
 * Rows read per statement at load: enough to make the call's cost small per row, few enough that
 * each page's rows die young instead of filling the old generation of the garbage collector.
 */
const PAGE = 1000;

const SESSION_COLUMNS = "client_id, username, protocol, expiry_ms, expires_at";
const WILL_COLUMNS = "client_id, topic, payload, qos, retain, properties, due_at";
const SUBSCRIPTION_COLUMNS = "client_id, filter, qos, no_local, retain_as_published, " +
  "retain_handling, subscription_id, share_group";
// Flags in one column: each column of each row costs a value made for it.
const MESSAGE_COLUMNS = "id, topic, payload, qos + 4 * retain, properties, expires_at";
const DELIVERY_COLUMNS =
  "client_id, seq, message_id, qos + 4 * retain + 8 * released, packet_id, ids, share";

type Row = SQLOutputValue[];

/** A statement that returns rows as arrays of column values, in the order it selects them. */
function arrayRows(statement: StatementSync): (...params: SQLInputValue[]) => Row[] {
  // Arrays cost less per row than objects keyed by column name; Node before 22.16 has only these.
  if (typeof statement.setReturnArrays === "function") {
    statement.setReturnArrays(true);
    return (...params) => statement.all(...params) as unknown as Row[];
  }
  return (...params) => statement.all(...params).map((row) => Object.values(row));
}

/**
 * Every row of `table`, decoded, in the order of its primary key, which is the first `keys` of `columns`:
 * a page at a time, each page starting after the key of the last row of the one before, so that
 * every page is found through the key's index instead of an offset counted from the start.
 */
function* paged<T>(
  db: DatabaseSync,
  table: string,
  columns: string,
  keys: number,
  decode: (row: Row) => T,
): Generator<T> {
  const key = columns.split(",").slice(0, keys).join(",");
  const after = Array(keys).fill("?").join(", ");
  const first = arrayRows(
    db.prepare(`SELECT ${columns} FROM ${table} ORDER BY ${key} LIMIT ${PAGE}`),
  );
  const next = arrayRows(
    db.prepare(
      `SELECT ${columns} FROM ${table} WHERE (${key}) > (${after}) ORDER BY ${key} LIMIT ${PAGE}`,
    ),
  );
  let rows = first();
  for (;;) {
    for (let i = 0; i < rows.length; i++) yield decode(rows[i]);
    if (rows.length < PAGE) return;
    rows = next(...rows[rows.length - 1].slice(0, keys));
  }
}

const decodeWill = (r: Row): [string, StoredWill] => [String(r[0]), {
  topic: String(r[1]),
  payload: r[2] as Uint8Array,
  qos: num(r[3]) as 0 | 1 | 2,
  retain: r[4] === 1,
  properties: propertiesFromJson(r[5]),
  dueAt: num(r[6]),
}];

const bool = (b: boolean) => b ? 1 : 0;
const num = (v: unknown) => Number(v);

/** Opens (creating if need be) the store at `file`; throws a {@link StoreError} naming the fix. */
export function openSqliteStore(file: string, sync: SyncMode): Store {
  const dir = dirname(file);
  if (!existsSync(dir)) {
    throw new StoreError(
      `persistence: the folder of ${file} does not exist: create ${dir} or change persistence.path`,
      file,
    );
  }
  if (existsSync(file) && !statSync(file).isFile()) {
    throw new StoreError(`persistence: ${file} is not a file: change persistence.path`, file);
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file);
  } catch (error) {
    throw new StoreError(
      `persistence: cannot open ${file} (${
        (error as Error).message
      }): check that the broker may read and write it and its folder`,
      file,
    );
  }
  try {
    prepare(db, file, sync);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db, file, sync);
}

function prepare(db: DatabaseSync, file: string, sync: SyncMode): void {
  let version: number;
  try {
    version = num(db.prepare("PRAGMA user_version").get()!.user_version);
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  } catch (error) {
    throw damaged(file, error);
  }
  if (version > SCHEMA_VERSION) throw newer(file, version);
  try {
    // Only takes effect before the first table exists: a new file gives freed pages back.
    if (version === 0) db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${sync.toUpperCase()}`);
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.exec("BEGIN IMMEDIATE");
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    }
    // A store the broker cannot write fails now, not at the first acknowledgement.
    db.exec("BEGIN IMMEDIATE; COMMIT");
  } catch (error) {
    const message = (error as Error).message;
    if (/readonly|read-only|unable to open|permission|access/i.test(message)) {
      throw new StoreError(
        `persistence: cannot write ${file} (${message}): let the broker write it and its folder (SQLite adds ${file}-wal and ${file}-shm beside it)`,
        file,
      );
    }
    throw damaged(file, error);
  }
  try {
    const check = db.prepare("PRAGMA quick_check").get();
    if (check?.quick_check !== "ok") throw new Error(String(check?.quick_check));
  } catch (error) {
    throw damaged(file, error);
  }
}

/** Counts of what the store in `db` holds. */
function summarize(db: DatabaseSync, file: string): StoreSummary {
  const count = (table: string) => num(db.prepare(`SELECT count(*) AS n FROM ${table}`).get()!.n);
  return {
    sessions: count("sessions"),
    subscriptions: count("subscriptions"),
    messages: count("messages"),
    deliveries: count("deliveries"),
    retained: count("retained"),
    bytes: fileBytes(file),
  };
}

/**
 * What the store at `file` holds, read without writing anything (`broker store FILE`): the file
 * is opened read-only, so it is neither created, migrated nor checkpointed. Throws a
 * {@link StoreError} for a missing, damaged or newer store.
 */
export function readStoreSummary(file: string): StoreSummary {
  if (!existsSync(file)) {
    throw new StoreError(`persistence: ${file} does not exist: check the path`, file);
  }
  // Without a WAL no connection has the store open (one keeps FILE-wal while it lives): it is
  // read as immutable, which adds no FILE-shm. Beside a running broker it is read as any reader
  // does, which changes nothing but the read marks in FILE-shm.
  const quiet = !existsSync(`${file}-wal`) && !existsSync(`${file}-shm`);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(quiet ? `${pathToFileURL(file).href}?immutable=1` : file, {
      readOnly: true,
    });
  } catch (error) {
    throw new StoreError(
      `persistence: cannot open ${file} (${(error as Error).message}): check that it may be read`,
      file,
    );
  }
  try {
    let version: number;
    try {
      version = num(db.prepare("PRAGMA user_version").get()!.user_version);
    } catch (error) {
      throw damaged(file, error);
    }
    if (version > SCHEMA_VERSION) throw newer(file, version);
    // A store no broker has written to yet holds nothing.
    if (version === 0) {
      return {
        sessions: 0,
        subscriptions: 0,
        messages: 0,
        deliveries: 0,
        retained: 0,
        bytes: fileBytes(file),
      };
    }
    try {
      return summarize(db, file);
    } catch (error) {
      throw damaged(file, error);
    }
  } finally {
    db.close();
  }
}

/** The size of the store's file and its WAL. */
function fileBytes(file: string): number {
  let bytes = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      bytes += statSync(file + suffix).size;
    } catch { /* not there (a WAL checkpointed away, or a file removed) */ }
  }
  return bytes;
}

/** Why a commit failed, with what to do about it. */
function commitError(file: string, error: unknown): StoreError {
  const cause = (error as Error).message;
  let fix = "check the file, its folder and the disk";
  if (/full/i.test(cause)) fix = `free space on the file system of ${file}`;
  else if (/removed or replaced/.test(cause)) {
    fix =
      `what the broker holds now is not on disk any more: restart it soon (it starts from ${file} as it is then), or put the file back`;
  } else if (/readonly|read-only|permission|access/i.test(cause)) {
    fix = `let the broker write ${file} and its folder`;
  } else if (/I\/O|disk/i.test(cause)) {
    fix = "check the disk and its file system (the kernel log says more)";
  }
  return new StoreError(`persistence: cannot commit to ${file} (${cause}): ${fix}`, file);
}

function newer(file: string, version: number): StoreError {
  return new StoreError(
    `persistence: ${file} was written by a newer broker (store version ${version}, this one knows ${SCHEMA_VERSION}): run that version, or point persistence.path at another file`,
    file,
  );
}

function damaged(file: string, error: unknown): StoreError {
  return new StoreError(
    `persistence: ${file} is damaged (${
      (error as Error).message
    }): run \`broker store ${file} --move-aside\` to keep it aside and start empty, or restore it from a backup`,
    file,
    true,
  );
}

/** A delivery first recorded in the pending batch, as the batch's later records left it. */
interface FreshDelivery {
  clientId: string;
  seq: number;
  messageId: number;
  qos: number;
  retain: number;
  packetId: number;
  released: number;
  ids: string | null;
  share: string | null;
}

/** A delivery in the file, sent or released again in the pending batch. */
interface MovedDelivery {
  /** Its seq in the file. */
  from: number;
  /** Null while only released. */
  packetId: number | null;
  released: number;
}

/** Sent deliveries per message recorded from which a commit waits for their acknowledgements. */
const FAN_OUT = 4;

class SqliteStore implements Store {
  readonly durable = true;
  /** The main thread's connection: it loads, migrates and counts; the writer commits. */
  readonly #db: DatabaseSync;
  readonly #file: string;
  readonly #writer: CommitWriter;
  /**
   * Records other than deliveries and messages, in order, as operations of the commit (see
   * {@link WriterBatch.ops}).
   */
  #steps: SQLInputValue[] = [];
  /** Where in {@link SqliteStore.#steps} its blobs are. */
  #stepBlobs: number[] = [];
  /**
   * Deliveries recorded in this batch, by session and seq: one sent, released or removed in the
   * same batch changes or leaves this instead of adding a statement.
   */
  readonly #fresh = new BatchRows<FreshDelivery>();
  /** Deliveries in {@link SqliteStore.#fresh} that were sent and are not acknowledged yet. */
  #sentFresh = 0;
  /** Deliveries in the file moved in this batch, by session and the seq they have now. */
  readonly #moved = new BatchRows<MovedDelivery>();
  /** Seqs in the file of each session's deliveries removed in this batch. */
  #removed = new Map<string, number[]>();
  /** Messages recorded in this batch: written only if something refers to them at the commit. */
  #newMessages = new Map<number, StoredMessage>();
  /** References to each message from deliveries and retained topics, in the file or pending. */
  readonly #refs = new RefCounts();
  /** Messages that lost their last reference in this batch. */
  #unreferenced = new Set<number>();
  /**
   * References the commit under way read from the file and dropped (an ended session's, a
   * retained topic's former message), counted again if it fails.
   */
  #readRefs: number[] = [];
  /**
   * The operations of a commit that failed, kept whole: the next commit writes them before the
   * records that came since, in the same transaction.
   */
  #kept: WriterBatch | undefined;
  /** Records of the commit under way, or of the one kept. */
  #unwrittenRecords = 0;
  /** The commit under way, settled when the writer has answered. */
  #committing: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #commits = 0;
  #failedCommits = 0;
  #pendingRecords = 0;
  #lastCommitMs = 0;
  #commitMsTotal = 0;
  /** The file's inode when opened, to notice it being removed or replaced. */
  readonly #ino: number | bigint;
  onPending: (() => void) | undefined = undefined;

  constructor(db: DatabaseSync, file: string, sync: SyncMode) {
    this.#db = db;
    this.#file = file;
    this.#ino = statSync(file).ino;
    this.#writer = new CommitWriter(writerSetup(file, sync));
  }

  get pending(): boolean {
    return this.#pendingRecords > 0 || (this.#kept !== undefined && !this.#committing);
  }

  get awaitingAck(): number {
    // Each message went to one subscriber or two: a commit that waits spares the publishers
    // less than they wait. A fan-out's deliveries outweigh its messages many times.
    return this.#sentFresh >= FAN_OUT * this.#newMessages.size ? this.#sentFresh : 0;
  }

  #note(): void {
    if (this.#pendingRecords++ === 0) this.onPending?.();
  }

  /** Appends a run of statement `id` of {@link S} to the batch's steps. */
  #run(id: number, ...params: SQLInputValue[]): void {
    const at = this.#steps.length + 2;
    this.#steps.push(OP.run, id, ...params);
    for (let i = 0; i < params.length; i++) {
      if (params[i] instanceof Uint8Array) this.#stepBlobs.push(at + i);
    }
    this.#note();
  }

  #ref(id: number): void {
    this.#refs.add(id);
  }

  /** Drops a reference; false for a message never counted, which is kept rather than lost. */
  #unref(id: number): boolean {
    const left = this.#refs.drop(id);
    if (left === 0) this.#unreferenced.add(id);
    return left >= 0;
  }

  sessionSaved(session: StoredSession): void {
    const expiry = session.expiryMs === Infinity ? null : session.expiryMs;
    this.#run(
      S.saveSession,
      session.clientId,
      session.username ?? null,
      session.protocolVersion,
      expiry,
      session.expiresAt,
    );
  }

  sessionEnded(clientId: string): void {
    this.#fresh.takeSession(clientId, (d) => {
      this.#unref(d.messageId);
      if (d.packetId !== 0) this.#sentFresh--;
    });
    // Runs after the batch's changes to deliveries in the file, before its new deliveries. The
    // message ids it reads lose a reference once the commit is reported.
    for (
      const id of [
        S.sessionMessages,
        S.endDeliveries,
        S.endSubscriptions,
        S.endWill,
        S.endReceiving,
        S.endSession,
      ]
    ) this.#steps.push(OP.run, id, clientId);
    this.#note();
  }

  willSaved(clientId: string, will: StoredWill): void {
    this.#run(
      S.saveWill,
      clientId,
      will.topic,
      will.payload,
      will.qos,
      bool(will.retain),
      propertiesToJson(will.properties),
      will.dueAt,
    );
  }

  willCleared(clientId: string): void {
    this.#run(S.endWill, clientId);
  }

  subscriptionAdded({ clientId, filter, options: o }: StoredSubscription): void {
    this.#run(
      S.saveSubscription,
      clientId,
      filter,
      o.qos,
      bool(o.noLocal),
      bool(o.retainAsPublished),
      o.retainHandling,
      o.subscriptionId ?? null,
      o.shareGroup ?? null,
    );
  }

  subscriptionRemoved(clientId: string, filter: string): void {
    this.#run(S.removeSubscription, clientId, filter);
  }

  messageStored(m: StoredMessage): void {
    this.#newMessages.set(m.id, m);
    this.#note();
  }

  deliveryAdded(d: StoredDelivery): void {
    this.#ref(d.messageId);
    if (d.packetId !== 0) this.#sentFresh++;
    const replaced = this.#fresh.take(d.clientId, d.seq);
    if (replaced) {
      this.#unref(replaced.messageId);
      if (replaced.packetId !== 0) this.#sentFresh--;
    }
    this.#fresh.put(d.clientId, d.seq, {
      clientId: d.clientId,
      seq: d.seq,
      messageId: d.messageId,
      qos: d.qos,
      retain: bool(d.retain),
      packetId: d.packetId,
      released: bool(d.released),
      ids: d.ids ? JSON.stringify(d.ids) : null,
      share: d.share ?? null,
    });
    this.#note();
  }

  /** Where the delivery in the file at `seq` came from, taken out of the batch's moves. */
  #takeMoved(clientId: string, seq: number): MovedDelivery {
    return this.#moved.take(clientId, seq) ?? { from: seq, packetId: null, released: 0 };
  }

  deliverySent(clientId: string, oldSeq: number, seq: number, packetId: number): void {
    const d = this.#fresh.take(clientId, oldSeq) ?? this.#takeMoved(clientId, oldSeq);
    if ("seq" in d && d.packetId === 0) this.#sentFresh++;
    d.packetId = packetId;
    if ("seq" in d) {
      d.seq = seq;
      this.#fresh.put(clientId, seq, d);
    } else this.#moved.put(clientId, seq, d);
    this.#note();
  }

  deliveryReleased(clientId: string, oldSeq: number, seq: number): void {
    const d = this.#fresh.take(clientId, oldSeq) ?? this.#takeMoved(clientId, oldSeq);
    d.released = 1;
    if ("seq" in d) {
      d.seq = seq;
      this.#fresh.put(clientId, seq, d);
    } else this.#moved.put(clientId, seq, d);
    this.#note();
  }

  deliveryRemoved(clientId: string, seq: number, messageId: number): void {
    const fresh = this.#fresh.take(clientId, seq);
    if (fresh) {
      if (fresh.packetId !== 0) this.#sentFresh--;
    } else {
      const from = this.#moved.take(clientId, seq)?.from ?? seq;
      const removed = this.#removed.get(clientId);
      if (removed) removed.push(from);
      else this.#removed.set(clientId, [from]);
    }
    this.#unref(messageId);
    this.#note();
  }

  retainedSet(topic: string, messageId: number): void {
    this.#ref(messageId);
    this.#retainedOld(topic);
    this.#run(S.setRetained, topic, messageId);
  }

  retainedCleared(topic: string): void {
    this.#retainedOld(topic);
    this.#run(S.clearRetained, topic);
  }

  /**
   * The topic's former message loses a reference, read from the file as the commit gets there
   * and dropped once it is reported (a map of every retained topic would cost a restart more
   * than this query costs a publish).
   */
  #retainedOld(topic: string): void {
    this.#run(S.retainedOf, topic);
  }

  receiveAdded(clientId: string, packetId: number): void {
    this.#run(S.addReceive, clientId, packetId);
  }

  receiveRemoved(clientId: string, packetId: number): void {
    this.#run(S.removeReceive, clientId, packetId);
  }

  /**
   * Hands the batch to the writer, which runs it in one transaction; records that arrive before
   * it answers make the next batch. On failure nothing of it is written and all of it is kept,
   * so that the next commit writes it first; the error names the file and the fix.
   */
  commit(): Promise<void> {
    if (this.#committing) throw new Error("a commit is under way");
    if (this.#closing && !this.#db.isOpen) return Promise.reject(new Error("the store is closed"));
    if (!this.pending) return Promise.resolve();
    try {
      this.#checkFile();
    } catch (error) {
      this.#failedCommits++;
      return Promise.reject(commitError(this.#file, error));
    }
    const batch = this.#kept ?? { ops: [], blobAt: [], vacuum: 0 };
    this.#kept = batch;
    this.#encode(batch.ops, batch.blobAt);
    this.#unwrittenRecords += this.#pendingRecords;
    this.#pendingRecords = 0;
    this.#steps = [];
    this.#stepBlobs = [];
    this.#fresh.clear();
    this.#sentFresh = 0;
    this.#moved.clear();
    this.#removed.clear();
    this.#newMessages.clear();
    this.#unreferenced.clear();
    batch.vacuum = (this.#commits + 1) % VACUUM_EVERY === 0 ? VACUUM_PAGES : 0;
    const started = performance.now();
    this.#readRefs = [];
    const write = this.#writer.write(batch, (read) => this.#dropRead(read));
    return this.#committing = write.then(() => {
      this.#committing = undefined;
      this.#kept = undefined;
      this.#unwrittenRecords = 0;
      const took = performance.now() - started;
      this.#commits++;
      this.#lastCommitMs = took;
      this.#commitMsTotal += took;
    }, (error) => {
      this.#committing = undefined;
      // The retry reads them from the file again.
      for (const id of this.#readRefs) this.#ref(id);
      this.#failedCommits++;
      throw commitError(this.#file, error);
    });
  }

  /**
   * The message ids the commit's reads returned lose a reference each; those left with none go
   * in the same transaction. A reference the batch being built added keeps its message.
   */
  #dropRead(read: number[]): SQLInputValue[] {
    const gone: number[] = [];
    for (const id of read) {
      if (!this.#unref(id)) continue;
      this.#readRefs.push(id);
      if (!this.#refs.has(id)) gone.push(id);
    }
    if (gone.length === 0) return [];
    const ops: SQLInputValue[] = [];
    pushDelete(ops, DELETE.messages, [], gone);
    return ops;
  }

  /**
   * Appends the batch's operations to `ops`, and where its blobs are to `blobAt`. Changes to deliveries in the file come first: they
   * name rows by their seq in the file, and a session ended later in the batch deletes what they
   * leave (its own records cannot follow its end: a new session of the client id starts with
   * deliveries of this batch, written last). Moves never meet removals: both name a row by its
   * seq in the file, and a seq moved to is new to its session.
   */
  #encode(ops: SQLInputValue[], blobAt: number[]): void {
    this.#moved.forEach((m, clientId, seq) => {
      ops.push(OP.run, S.moveDelivery, seq, m.packetId, m.released, clientId, m.from);
    });
    for (const [clientId, seqs] of this.#removed) {
      pushDelete(ops, DELETE.deliveries, [clientId], seqs);
    }
    for (const at of this.#stepBlobs) blobAt.push(ops.length + at);
    for (const value of this.#steps) ops.push(value);
    const deliveriesAt = ops.length;
    ops.push(OP.insert, INSERT.deliveries, 0);
    let rows = 0;
    this.#fresh.forEach((d) => {
      ops.push(
        d.clientId,
        d.seq,
        d.messageId,
        d.qos,
        d.retain,
        d.packetId,
        d.released,
        d.ids,
        d.share,
      );
      rows++;
    });
    if (rows > 0) ops[deliveriesAt + 2] = rows;
    else ops.length = deliveriesAt;
    const refs = this.#refs;
    const messagesAt = ops.length;
    ops.push(OP.insert, INSERT.messages, 0);
    rows = 0;
    for (const m of this.#newMessages.values()) {
      // Stored and dropped by every holder within the batch: never written.
      if (!refs.has(m.id)) continue;
      blobAt.push(ops.length + 2);
      ops.push(
        m.id,
        m.topic,
        m.payload,
        m.qos,
        bool(m.retain),
        propertiesToJson(m.properties),
        m.expiresAt,
      );
      rows++;
    }
    if (rows > 0) ops[messagesAt + 2] = rows;
    else ops.length = messagesAt;
    const gone: number[] = [];
    for (const id of this.#unreferenced) {
      if (!refs.has(id) && !this.#newMessages.has(id)) gone.push(id);
    }
    if (gone.length > 0) pushDelete(ops, DELETE.messages, [], gone);
  }

  /**
   * SQLite goes on writing to a file removed (or replaced) under it, into space the next start
   * never reads: that must fail like a full disk, not succeed.
   */
  #checkFile(): void {
    let ino: number | bigint | undefined;
    try {
      ino = statSync(this.#file).ino;
    } catch { /* gone */ }
    if (ino !== this.#ino) {
      throw new Error(`${this.#file} was removed or replaced while the broker was running`);
    }
  }

  figures(): StoreFigures {
    return {
      commits: this.#commits,
      failedCommits: this.#failedCommits,
      pendingRecords: this.#pendingRecords + this.#unwrittenRecords,
      lastCommitMs: this.#lastCommitMs,
      commitMsTotal: this.#commitMsTotal,
      bytes: fileBytes(this.#file),
    };
  }

  load(): StoredState {
    const db = this.#db;
    const wills = new Map<string, StoredWill>();
    for (const [clientId, will] of paged(db, "wills", WILL_COLUMNS, 1, decodeWill)) {
      wills.set(clientId, will);
    }
    return {
      sessions: paged(db, "sessions", SESSION_COLUMNS, 1, (r) => ({
        clientId: String(r[0]),
        username: r[1] === null ? undefined : String(r[1]),
        protocolVersion: num(r[2]),
        expiryMs: r[3] === null ? Infinity : num(r[3]),
        expiresAt: num(r[4]),
      })),
      wills,
      subscriptions: paged(db, "subscriptions", SUBSCRIPTION_COLUMNS, 2, (r) => ({
        clientId: String(r[0]),
        filter: String(r[1]),
        options: {
          qos: num(r[2]) as 0 | 1 | 2,
          noLocal: r[3] === 1,
          retainAsPublished: r[4] === 1,
          retainHandling: num(r[5]) as 0 | 1 | 2,
          subscriptionId: r[6] === null ? undefined : num(r[6]),
          shareGroup: r[7] === null ? undefined : String(r[7]),
        },
      })),
      messages: paged(db, "messages", MESSAGE_COLUMNS, 1, (r) => ({
        id: num(r[0]),
        topic: String(r[1]),
        payload: r[2] as Uint8Array,
        qos: (num(r[3]) & 3) as 0 | 1 | 2,
        retain: (num(r[3]) & 4) !== 0,
        properties: propertiesFromJson(r[4]),
        expiresAt: num(r[5]),
      })),
      // Each row read counts as a reference to its message.
      deliveries: paged(db, "deliveries", DELIVERY_COLUMNS, 2, (r) => {
        const messageId = num(r[2]);
        this.#refs.read(messageId);
        return {
          clientId: String(r[0]),
          seq: num(r[1]),
          messageId,
          qos: (num(r[3]) & 3) as 1 | 2,
          retain: (num(r[3]) & 4) !== 0,
          packetId: num(r[4]),
          released: (num(r[3]) & 8) !== 0,
          ids: typeof r[5] === "string" ? JSON.parse(r[5]) : undefined,
          share: r[6] === null ? undefined : String(r[6]),
        };
      }),
      retained: paged(db, "retained", "topic, message_id", 1, (r): [string, number] => {
        const messageId = num(r[1]);
        this.#refs.read(messageId);
        return [String(r[0]), messageId];
      }),
      awaitingRelease: paged(
        db,
        "receiving",
        "client_id, packet_id",
        2,
        (r) => ({ clientId: String(r[0]), packetId: num(r[1]) }),
      ),
    };
  }

  summary(): StoreSummary {
    return summarize(this.#db, this.#file);
  }

  /**
   * Waits for the commit under way, commits what is pending and closes the file, also when that
   * commit fails (it rethrows).
   */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      try {
        await this.#committing?.catch(() => {});
        await this.commit();
      } finally {
        await this.#writer.close();
        this.#db.close();
      }
    })();
  }
}
