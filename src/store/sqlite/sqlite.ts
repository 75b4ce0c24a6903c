/**
 * The durable store: one SQLite file through `node:sqlite`, which Deno, Bun and Node all provide,
 * so this module has no per-runtime code. WAL journal; `sync: full` fsyncs every commit (durable
 * against power loss), `normal` only at checkpoints (durable against a process crash).
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "./driver.ts";
import { StoreError } from "../error.ts";
import {
  emptyState,
  type Store,
  type StoredDelivery,
  type StoredMessage,
  type StoredSession,
  type StoredState,
  type StoredSubscription,
  type StoredWill,
  type StoreSummary,
} from "../types.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.ts";
import { propertiesFromJson, propertiesToJson } from "./properties.ts";

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
  sessionMessages: "SELECT DISTINCT message_id FROM deliveries WHERE client_id = ?",
  endDeliveries: "DELETE FROM deliveries WHERE client_id = ?",
  saveWill: "INSERT OR REPLACE INTO wills VALUES (?, ?, ?, ?, ?, ?, ?)",
  saveSubscription: "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  removeSubscription: "DELETE FROM subscriptions WHERE client_id = ? AND filter = ?",
  saveMessage: "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
  addDelivery: "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
  sendDelivery: "UPDATE deliveries SET seq = ?, packet_id = ? WHERE client_id = ? AND seq = ?",
  releaseDelivery: "UPDATE deliveries SET seq = ?, released = 1 WHERE client_id = ? AND seq = ?",
  removeDelivery: "DELETE FROM deliveries WHERE client_id = ? AND seq = ?",
  retainedOf: "SELECT message_id FROM retained WHERE topic = ?",
  setRetained: "INSERT OR REPLACE INTO retained VALUES (?, ?)",
  clearRetained: "DELETE FROM retained WHERE topic = ?",
  addReceive: "INSERT OR IGNORE INTO receiving VALUES (?, ?)",
  removeReceive: "DELETE FROM receiving WHERE client_id = ? AND packet_id = ?",
  // A message goes once neither a delivery nor a retained topic refers to it.
  collect: `DELETE FROM messages WHERE id = ?1
    AND NOT EXISTS (SELECT 1 FROM deliveries WHERE message_id = ?1)
    AND NOT EXISTS (SELECT 1 FROM retained WHERE message_id = ?1)`,
} as const;

type Statements = { [K in keyof typeof SQL]: StatementSync };

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
  return new SqliteStore(db, file);
}

function prepare(db: DatabaseSync, file: string, sync: SyncMode): void {
  let version: number;
  try {
    version = num(db.prepare("PRAGMA user_version").get()!.user_version);
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  } catch (error) {
    throw damaged(file, error);
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      `persistence: ${file} was written by a newer broker (store version ${version}, this one knows ${SCHEMA_VERSION}): run that version, or point persistence.path at another file`,
      file,
    );
  }
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

function damaged(file: string, error: unknown): StoreError {
  return new StoreError(
    `persistence: ${file} is damaged (${
      (error as Error).message
    }): run \`broker store ${file} --move-aside\` to keep it aside and start empty, or restore it from a backup`,
    file,
    true,
  );
}

class SqliteStore implements Store {
  readonly durable = true;
  readonly #db: DatabaseSync;
  readonly #file: string;
  readonly #s: Statements;
  #batch: (() => void)[] = [];
  /** Messages that may have lost their last reference in this batch. */
  #orphans = new Set<number>();
  #commits = 0;
  onPending: (() => void) | undefined = undefined;

  constructor(db: DatabaseSync, file: string) {
    this.#db = db;
    this.#file = file;
    const s = {} as Record<string, StatementSync>;
    for (const [name, sql] of Object.entries(SQL)) s[name] = db.prepare(sql);
    this.#s = s as Statements;
  }

  get pending(): boolean {
    return this.#batch.length > 0;
  }

  #run(statement: StatementSync, ...params: SQLInputValue[]): void {
    this.#add(() => statement.run(...params));
  }

  #add(step: () => void): void {
    if (this.#batch.push(step) === 1) this.onPending?.();
  }

  sessionSaved(session: StoredSession): void {
    const expiry = session.expiryMs === Infinity ? null : session.expiryMs;
    this.#run(
      this.#s.saveSession,
      session.clientId,
      session.username ?? null,
      session.protocolVersion,
      expiry,
      session.expiresAt,
    );
  }

  sessionEnded(clientId: string): void {
    const s = this.#s;
    this.#add(() => {
      for (const row of s.sessionMessages.all(clientId)) this.#orphans.add(num(row.message_id));
      s.endDeliveries.run(clientId);
      s.endSubscriptions.run(clientId);
      s.endWill.run(clientId);
      s.endReceiving.run(clientId);
      s.endSession.run(clientId);
    });
  }

  willSaved(clientId: string, will: StoredWill): void {
    this.#run(
      this.#s.saveWill,
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
    this.#run(this.#s.endWill, clientId);
  }

  subscriptionAdded({ clientId, filter, options: o }: StoredSubscription): void {
    this.#run(
      this.#s.saveSubscription,
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
    this.#run(this.#s.removeSubscription, clientId, filter);
  }

  messageStored(m: StoredMessage): void {
    this.#run(
      this.#s.saveMessage,
      m.id,
      m.topic,
      m.payload,
      m.qos,
      bool(m.retain),
      propertiesToJson(m.properties),
      m.expiresAt,
    );
    // Stored for a reference that may be gone by the commit.
    this.#orphans.add(m.id);
  }

  deliveryAdded(d: StoredDelivery): void {
    this.#run(
      this.#s.addDelivery,
      d.clientId,
      d.seq,
      d.messageId,
      d.qos,
      bool(d.retain),
      d.packetId,
      bool(d.released),
      d.ids ? JSON.stringify(d.ids) : null,
    );
  }

  deliverySent(clientId: string, oldSeq: number, seq: number, packetId: number): void {
    this.#run(this.#s.sendDelivery, seq, packetId, clientId, oldSeq);
  }

  deliveryReleased(clientId: string, oldSeq: number, seq: number): void {
    this.#run(this.#s.releaseDelivery, seq, clientId, oldSeq);
  }

  deliveryRemoved(clientId: string, seq: number, messageId: number): void {
    this.#run(this.#s.removeDelivery, clientId, seq);
    this.#orphans.add(messageId);
  }

  retainedSet(topic: string, messageId: number): void {
    this.#retainedOld(topic);
    this.#run(this.#s.setRetained, topic, messageId);
  }

  retainedCleared(topic: string): void {
    this.#retainedOld(topic);
    this.#run(this.#s.clearRetained, topic);
  }

  #retainedOld(topic: string): void {
    this.#add(() => {
      const row = this.#s.retainedOf.get(topic);
      if (row) this.#orphans.add(num(row.message_id));
    });
  }

  receiveAdded(clientId: string, packetId: number): void {
    this.#run(this.#s.addReceive, clientId, packetId);
  }

  receiveRemoved(clientId: string, packetId: number): void {
    this.#run(this.#s.removeReceive, clientId, packetId);
  }

  commit(): void {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    const db = this.#db;
    db.exec("BEGIN");
    try {
      for (const step of batch) step();
      for (const id of this.#orphans) this.#s.collect.run(id);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    } finally {
      this.#orphans.clear();
    }
    if (++this.#commits % VACUUM_EVERY === 0) this.vacuum();
  }

  /** Gives free pages back to the file system, a bounded number at a time. */
  vacuum(): void {
    this.#db.exec(`PRAGMA incremental_vacuum(${VACUUM_PAGES})`);
  }

  load(): StoredState {
    const db = this.#db;
    const state = emptyState();
    for (const r of db.prepare("SELECT * FROM sessions").all()) {
      state.sessions.push({
        clientId: String(r.client_id),
        username: r.username === null ? undefined : String(r.username),
        protocolVersion: num(r.protocol),
        expiryMs: r.expiry_ms === null ? Infinity : num(r.expiry_ms),
        expiresAt: num(r.expires_at),
      });
    }
    for (const r of db.prepare("SELECT * FROM wills").all()) {
      state.wills.set(String(r.client_id), {
        topic: String(r.topic),
        payload: r.payload as Uint8Array,
        qos: num(r.qos) as 0 | 1 | 2,
        retain: r.retain === 1,
        properties: propertiesFromJson(r.properties),
        dueAt: num(r.due_at),
      });
    }
    for (const r of db.prepare("SELECT * FROM subscriptions").all()) {
      state.subscriptions.push({
        clientId: String(r.client_id),
        filter: String(r.filter),
        options: {
          qos: num(r.qos) as 0 | 1 | 2,
          noLocal: r.no_local === 1,
          retainAsPublished: r.retain_as_published === 1,
          retainHandling: num(r.retain_handling) as 0 | 1 | 2,
          subscriptionId: r.subscription_id === null ? undefined : num(r.subscription_id),
          shareGroup: r.share_group === null ? undefined : String(r.share_group),
        },
      });
    }
    for (const r of db.prepare("SELECT * FROM messages").all()) {
      const id = num(r.id);
      state.messages.set(id, {
        id,
        topic: String(r.topic),
        payload: r.payload as Uint8Array,
        qos: num(r.qos) as 0 | 1 | 2,
        retain: r.retain === 1,
        properties: propertiesFromJson(r.properties),
        expiresAt: num(r.expires_at),
      });
    }
    for (const r of db.prepare("SELECT * FROM deliveries ORDER BY client_id, seq").all()) {
      state.deliveries.push({
        clientId: String(r.client_id),
        seq: num(r.seq),
        messageId: num(r.message_id),
        qos: num(r.qos) as 1 | 2,
        retain: r.retain === 1,
        packetId: num(r.packet_id),
        released: r.released === 1,
        ids: typeof r.ids === "string" ? JSON.parse(r.ids) : undefined,
      });
    }
    for (const r of db.prepare("SELECT * FROM retained").all()) {
      state.retained.set(String(r.topic), num(r.message_id));
    }
    for (const r of db.prepare("SELECT * FROM receiving").all()) {
      state.awaitingRelease.push({ clientId: String(r.client_id), packetId: num(r.packet_id) });
    }
    return state;
  }

  summary(): StoreSummary {
    const count = (table: string) =>
      num(this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    let bytes = 0;
    for (const suffix of ["", "-wal"]) {
      if (existsSync(this.#file + suffix)) bytes += statSync(this.#file + suffix).size;
    }
    return {
      sessions: count("sessions"),
      subscriptions: count("subscriptions"),
      messages: count("messages"),
      deliveries: count("deliveries"),
      retained: count("retained"),
      bytes,
    };
  }

  close(): void {
    if (!this.#db.isOpen) return;
    this.commit();
    this.#db.close();
  }
}
