import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync, type SQLInputValue } from "../../src/store/sqlite/driver.ts";
import { openSqliteStore, readStoreSummary } from "../../src/store/sqlite/sqlite.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import { OP, pushDelete } from "../../src/store/sqlite/writer.ts";
import { StoreError } from "../../src/store/error.ts";
import type { Store, StoredDelivery, StoredMessage } from "../../src/store/types.ts";
import { storedSession } from "../helpers/store.ts";

function folder(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "store-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

const message = (id: number, topic = "a/b"): StoredMessage => ({
  id,
  topic,
  payload: new Uint8Array([id]),
  qos: 1,
  retain: false,
  properties: { correlationData: new Uint8Array([7, 8]), userProperties: [["k", "v"]] },
  expiresAt: 0,
});

const delivery = (clientId: string, seq: number, messageId: number): StoredDelivery => ({
  clientId,
  seq,
  messageId,
  qos: 1,
  retain: false,
  packetId: 0,
  released: false,
  ids: undefined,
});

/** Loads `store` and consumes every part, as the broker does at start. */
function drain(store: Store): void {
  const state = store.load();
  for (const part of [state.messages, state.sessions, state.subscriptions, state.deliveries]) {
    for (const _ of part as Iterable<unknown>) { /* read */ }
  }
  for (const _ of state.retained) { /* read */ }
  for (const _ of state.awaitingRelease) { /* read */ }
}

describe("the SQLite store", () => {
  test("what is committed is loaded again after reopening", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "normal");
    store.sessionSaved({
      clientId: "c1",
      username: "u",
      protocolVersion: 5,
      expiryMs: Infinity,
      expiresAt: 0,
    });
    store.subscriptionAdded({
      clientId: "c1",
      filter: "a/#",
      options: {
        qos: 2,
        noLocal: true,
        retainAsPublished: false,
        retainHandling: 1,
        subscriptionId: 9,
        shareGroup: undefined,
      },
    });
    store.messageStored(message(1));
    store.messageStored(message(2));
    store.messageStored({ ...message(3), qos: 2, retain: true, expiresAt: 99 });
    store.retainedSet("r", 3);
    store.deliveryAdded({
      clientId: "c1",
      seq: 1,
      messageId: 1,
      qos: 1,
      retain: false,
      packetId: 0,
      released: false,
      ids: [9],
    });
    store.deliveryAdded({
      clientId: "c1",
      seq: 2,
      messageId: 2,
      qos: 2,
      retain: false,
      packetId: 0,
      released: false,
      ids: undefined,
    });
    store.deliverySent("c1", 2, 3, 17);
    store.deliveryReleased("c1", 3, 4);
    store.retainedSet("a/b", 1);
    store.receiveAdded("c1", 5);
    store.willSaved("c1", {
      topic: "w",
      payload: new Uint8Array([1]),
      qos: 0,
      retain: true,
      properties: undefined,
      dueAt: 123,
    });
    assert.equal(store.pending, true);
    await store.commit();
    assert.equal(store.pending, false);
    await store.close();

    const again = openSqliteStore(file, "full");
    const loaded = again.load();
    // The iterables read the file as they are consumed: before it closes.
    const state = {
      sessions: [...loaded.sessions],
      subscriptions: [...loaded.subscriptions],
      messages: new Map([...loaded.messages].map((m) => [m.id, m])),
      deliveries: [...loaded.deliveries],
      retained: [...loaded.retained],
      awaitingRelease: [...loaded.awaitingRelease],
      wills: loaded.wills,
    };
    await again.close();
    assert.deepEqual(state.sessions, [{
      clientId: "c1",
      username: "u",
      protocolVersion: 5,
      expiryMs: Infinity,
      expiresAt: 0,
    }]);
    assert.equal(state.subscriptions[0].options.subscriptionId, 9);
    assert.equal(state.subscriptions[0].options.noLocal, true);
    assert.deepEqual(state.messages.get(1), message(1));
    assert.deepEqual(state.messages.get(3), { ...message(3), qos: 2, retain: true, expiresAt: 99 });
    assert.deepEqual(
      state.deliveries.map((d) => [d.seq, d.messageId, d.packetId, d.released, d.ids]),
      [[1, 1, 0, false, [9]], [4, 2, 17, true, undefined]],
    );
    assert.deepEqual([...state.retained], [["a/b", 1], ["r", 3]]);
    assert.deepEqual(state.awaitingRelease, [{ clientId: "c1", packetId: 5 }]);
    assert.equal(state.wills.get("c1")?.dueAt, 123);
  });

  test("load gives every row in key order, across many pages", async () => {
    using f = folder();
    const store = openSqliteStore(join(f.dir, "b.db"), "normal");
    // Ids and sequence numbers whose text order differs from their numeric order.
    const clients = ["a", "b", "c"];
    for (let id = 1; id <= 2500; id++) {
      store.messageStored(message(id, `t/${id}`));
      store.deliveryAdded(delivery(clients[id % 3], id, id));
    }
    await store.commit();
    const state = store.load();
    assert.deepEqual(
      [...state.messages].map((m) => m.id),
      [...Array(2500).keys()].map((i) => i + 1),
    );
    const expected = clients.flatMap((c, n) =>
      [...Array(2500).keys()].map((i) => i + 1).filter((id) => id % 3 === n).map((id) => [c, id])
    );
    assert.deepEqual([...state.deliveries].map((d) => [d.clientId, d.seq]), expected);
    await store.close();
  });

  test("a message is stored once and goes with its last reference", async () => {
    using f = folder();
    const store = openSqliteStore(join(f.dir, "b.db"), "normal");
    store.messageStored(message(1));
    for (const clientId of ["c1", "c2"]) {
      store.deliveryAdded({
        clientId,
        seq: 1,
        messageId: 1,
        qos: 1,
        retain: false,
        packetId: 0,
        released: false,
        ids: undefined,
      });
    }
    store.retainedSet("a/b", 1);
    await store.commit();
    assert.equal(store.summary().messages, 1);
    assert.equal(store.summary().deliveries, 2);
    store.deliveryRemoved("c1", 1, 1);
    store.sessionEnded("c2");
    await store.commit();
    assert.equal(store.summary().messages, 1, "the retained topic still holds it");
    store.retainedCleared("a/b");
    await store.commit();
    assert.equal(store.summary().messages, 0);
    // Stored and dropped within one batch: nothing is left either.
    store.messageStored(message(2));
    await store.commit();
    assert.equal(store.summary().messages, 0);
    await store.close();
  });

  test("deliveries and messages removed in runs and one by one are exactly those deleted", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    let store = openSqliteStore(file, "normal");
    for (let seq = 1; seq <= 30; seq++) {
      store.messageStored(message(seq));
      store.deliveryAdded(delivery("c1", seq, seq));
    }
    // A neighbour with the same seqs, which no range of c1 may reach.
    for (let seq = 1; seq <= 10; seq++) {
      store.messageStored(message(100 + seq));
      store.deliveryAdded(delivery("c2", seq, 100 + seq));
    }
    await store.commit();
    const removed = [
      27,
      3,
      9,
      12,
      2,
      30,
      16,
      5,
      13,
      21,
      7,
      4,
      11,
      6,
      20,
      17,
      14,
      22,
      23,
      24,
      25,
      26,
      28,
      29,
    ];
    for (const seq of removed) store.deliveryRemoved("c1", seq, seq);
    await store.commit();
    await store.close();
    store = openSqliteStore(file, "normal");
    const state = store.load();
    const left = [...state.deliveries].map((d) => `${d.clientId}:${d.seq}:${d.messageId}`);
    const kept = [1, 8, 10, 15, 18, 19];
    assert.deepEqual(
      left.sort(),
      [
        ...kept.map((seq) => `c1:${seq}:${seq}`),
        ...Array.from({ length: 10 }, (_, i) => `c2:${i + 1}:${101 + i}`),
      ].sort(),
    );
    assert.deepEqual(
      [...state.messages].map((m) => m.id).sort((a, b) => a - b),
      [...kept, ...Array.from({ length: 10 }, (_, i) => 101 + i)],
    );
    drain(store);
    await store.close();
  });

  test("runs of consecutive keys are deleted as ranges, the rest key by key", () => {
    const ops: SQLInputValue[] = [];
    pushDelete(ops, 0, ["c1"], [9, 3, 4, 5, 6, 1, 12, 13, 11, 10, 20, 21, 22]);
    // 1 and the short run 20-22 one by one; 3-6 and 9-13 as ranges.
    assert.deepEqual(ops, [OP.delete, 0, "c1", 4, 1, 20, 21, 22, 2, 3, 6, 9, 13]);
  });

  test("a missing folder, a damaged file and a newer schema are errors naming the file", () => {
    using f = folder();
    const missing = join(f.dir, "nope", "b.db");
    assert.throws(
      () => openSqliteStore(missing, "full"),
      (e: Error) => e instanceof StoreError && e.message.includes(missing),
    );
    const junk = join(f.dir, "junk.db");
    writeFileSync(junk, "this is not a database, just some text long enough ".repeat(200));
    assert.throws(
      () => openSqliteStore(junk, "full"),
      (e: Error) =>
        e instanceof StoreError && e.damaged && e.message.includes(junk) &&
        e.message.includes("--move-aside"),
    );
    const newer = join(f.dir, "newer.db");
    const db = new DatabaseSync(newer);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => openSqliteStore(newer, "full"),
      (e: Error) => e instanceof StoreError && !e.damaged && /newer/.test(e.message),
    );
  });

  test("reopening an older schema migrates it to the current version", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    await openSqliteStore(file, "normal").close();
    const db = new DatabaseSync(file);
    assert.equal(Number(db.prepare("PRAGMA user_version").get()!.user_version), SCHEMA_VERSION);
    assert.equal(db.prepare("PRAGMA journal_mode").get()!.journal_mode, "wal");
    db.close();
  });

  test("a version 2 store loses its indexes by message and its messages still go with their last reference", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const raw = new DatabaseSync(file);
    raw.exec(MIGRATIONS[0]);
    raw.exec(MIGRATIONS[1]);
    raw.exec(
      `INSERT INTO messages VALUES (1, 't', x'01', 1, 0, NULL, 0), (2, 't', x'02', 1, 0, NULL, 0);
      INSERT INTO deliveries VALUES ('c1', 1, 1, 1, 0, 0, 0, NULL, NULL), ('c2', 1, 1, 1, 0, 0, 0, NULL, NULL),
        ('c1', 2, 2, 1, 0, 0, 0, NULL, NULL);
      INSERT INTO retained VALUES ('r', 1);
      PRAGMA user_version = 2;`,
    );
    raw.close();
    const store = openSqliteStore(file, "normal");
    drain(store);
    const check = new DatabaseSync(file);
    const indexes = () =>
      check.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL").all()
        .map((row) => row.name);
    assert.equal(Number(check.prepare("PRAGMA user_version").get()!.user_version), 3);
    assert.deepEqual(indexes(), []);
    const messages = () =>
      check.prepare("SELECT id FROM messages ORDER BY id").all().map((row) => row.id);
    store.deliveryRemoved("c1", 1, 1);
    store.sessionEnded("c2");
    await store.commit();
    assert.deepEqual(messages(), [1, 2], "the retained topic holds 1, c1 holds 2");
    store.retainedCleared("r");
    await store.commit();
    assert.deepEqual(messages(), [2]);
    store.deliveryRemoved("c1", 2, 2);
    await store.commit();
    assert.deepEqual(messages(), []);
    check.close();
    await store.close();
  });

  test("records of one batch are written as where they ended", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "normal");
    store.messageStored(message(1));
    store.messageStored(message(2));
    store.deliveryAdded(delivery("c1", 1, 1));
    store.deliverySent("c1", 1, 2, 7);
    store.deliveryAdded({ ...delivery("c1", 3, 1), qos: 2 });
    store.deliverySent("c1", 3, 4, 8);
    store.deliveryReleased("c1", 4, 5);
    store.deliveryAdded(delivery("c1", 6, 2));
    store.deliveryRemoved("c1", 6, 2);
    store.deliveryAdded(delivery("c2", 1, 1));
    store.sessionEnded("c2");
    await store.commit();
    await store.close();
    const again = openSqliteStore(file, "normal");
    const state = again.load();
    assert.deepEqual([...state.messages].map((m) => m.id), [1]);
    assert.deepEqual(
      [...state.deliveries].map((d) => [d.clientId, d.seq, d.packetId, d.released]),
      [["c1", 2, 7, false], ["c1", 5, 8, true]],
    );
    await again.close();
  });

  test("a commit that fails after reading an ended session's references counts them once on retry", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "normal");
    store.messageStored(message(1));
    store.deliveryAdded(delivery("c1", 1, 1));
    store.deliveryAdded(delivery("c2", 1, 1));
    store.sessionSaved({
      clientId: "c2",
      username: undefined,
      protocolVersion: 4,
      expiryMs: Infinity,
      expiresAt: 0,
    });
    await store.commit();
    const raw = new DatabaseSync(file);
    raw.exec(
      "CREATE TRIGGER refuse BEFORE DELETE ON sessions BEGIN SELECT RAISE(ABORT, 'refused'); END",
    );
    store.sessionEnded("c2");
    await assert.rejects(store.commit(), StoreError);
    raw.exec("DROP TRIGGER refuse");
    await store.commit();
    assert.equal(store.summary().messages, 1, "c1 still holds it");
    store.deliveryRemoved("c1", 1, 1);
    await store.commit();
    assert.equal(store.summary().messages, 0);
    raw.close();
    await store.close();
  });

  test("a retained topic set twice in one batch keeps only its last message", async () => {
    using f = folder();
    const store = openSqliteStore(join(f.dir, "b.db"), "normal");
    store.messageStored(message(1));
    store.retainedSet("r", 1);
    await store.commit();
    store.messageStored(message(2));
    store.retainedSet("r", 2);
    store.messageStored(message(3));
    store.retainedSet("r", 3);
    await store.commit();
    const state = store.load();
    assert.deepEqual([...state.messages].map((m) => m.id), [3]);
    assert.deepEqual([...state.retained], [["r", 3]]);
    await store.close();
  });

  test("records that arrive while a commit is under way make the next batch", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "normal");
    store.messageStored(message(1));
    store.deliveryAdded(delivery("c1", 1, 1));
    const first = store.commit();
    assert.equal(store.pending, false, "the batch left with the commit");
    store.messageStored(message(2));
    store.deliveryAdded(delivery("c1", 2, 2));
    // Added and removed before its batch leaves: never written.
    store.messageStored(message(3));
    store.deliveryAdded(delivery("c1", 3, 3));
    store.deliveryRemoved("c1", 3, 3);
    assert.equal(store.pending, true);
    await first;
    const raw = new DatabaseSync(file, { readOnly: true });
    const ids = () => raw.prepare("SELECT id FROM messages ORDER BY id").all().map((r) => r.id);
    assert.deepEqual(ids(), [1], "the first commit holds only what came before it");
    assert.equal(store.pending, true);
    await store.commit();
    assert.deepEqual(ids(), [1, 2]);
    raw.close();
    await store.close();
  });

  test("awaitingAck counts the batch's sent, unacknowledged deliveries of a fan-out only", async () => {
    using f = folder();
    const store = openSqliteStore(join(f.dir, "b.db"), "normal");
    const sent = (clientId: string, seq: number, messageId: number): StoredDelivery => ({
      ...delivery(clientId, seq, messageId),
      packetId: seq,
    });
    store.messageStored(message(1));
    for (const clientId of ["c1", "c2", "c3", "c4"]) store.deliveryAdded(sent(clientId, 1, 1));
    assert.equal(store.awaitingAck, 4, "four sent deliveries of one message");
    store.deliveryAdded(delivery("c5", 1, 1));
    assert.equal(store.awaitingAck, 4, "a queued delivery waits for no acknowledgement");
    store.deliverySent("c5", 1, 2, 9);
    assert.equal(store.awaitingAck, 5, "sent now");
    store.deliverySent("c5", 2, 3, 9);
    assert.equal(store.awaitingAck, 5, "sent again: still one");
    store.deliveryReleased("c5", 3, 4);
    assert.equal(store.awaitingAck, 5, "a PUBREC leaves it waiting for PUBCOMP");
    store.deliveryRemoved("c1", 1, 1);
    store.sessionEnded("c2");
    assert.equal(store.awaitingAck, 0, "three deliveries of one message: not a fan-out");
    store.deliveryAdded(sent("c6", 1, 1));
    store.deliveryAdded(sent("c7", 1, 1));
    assert.equal(store.awaitingAck, 5);
    // Two messages to five subscribers, then a one-to-one: under four deliveries per message.
    store.messageStored(message(2));
    store.deliveryAdded(sent("c8", 1, 2));
    assert.equal(store.awaitingAck, 0);
    store.deliveryAdded(sent("c9", 1, 2));
    store.deliveryAdded(sent("c10", 1, 2));
    assert.equal(store.awaitingAck, 8);
    await store.commit();
    assert.equal(store.awaitingAck, 0, "what was sent is the commit's now");
    store.deliveryRemoved("c3", 1, 1);
    assert.equal(store.awaitingAck, 0, "an acknowledgement of a delivery in the file");
    await store.close();
  });

  test("close waits for the commit under way and writes the last batch", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "full");
    store.messageStored(message(1));
    store.retainedSet("r1", 1);
    const first = store.commit();
    store.messageStored(message(2));
    store.retainedSet("r2", 2);
    await store.close();
    await first;
    assert.equal(store.pending, false);
    const summary = readStoreSummary(file);
    assert.equal(summary.retained, 2);
    assert.equal(summary.messages, 2);
  });

  test("an empty payload, alone in its batch or beside others, is written as one", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const store = openSqliteStore(file, "normal");
    store.messageStored({ ...message(1), payload: new Uint8Array(0) });
    store.retainedSet("a", 1);
    await store.commit();
    store.messageStored({ ...message(2), payload: new Uint8Array(0) });
    store.retainedSet("b", 2);
    store.messageStored(message(3));
    store.retainedSet("c", 3);
    await store.commit();
    await store.close();
    const again = openSqliteStore(file, "normal");
    const payloads = [...again.load().messages].map((m) => [m.id, [...m.payload]]);
    assert.deepEqual(payloads, [[1, []], [2, []], [3, [3]]]);
    await again.close();
  });

  test("blobs among many rows, and in a batch kept after a failed commit, are written byte for byte", async () => {
    using f = folder();
    const file = join(f.dir, "b.db");
    const raw = new DatabaseSync(file);
    const store = openSqliteStore(file, "normal");
    const bytesOf = (id: number) => new Uint8Array(id % 5).fill(id & 255);
    const will = (payload: number[]) => ({
      topic: "w",
      payload: new Uint8Array(payload),
      qos: 1 as const,
      retain: false,
      properties: undefined,
      dueAt: 0,
    });
    store.sessionSaved(storedSession("c"));
    store.willSaved("c", will([1, 2, 3]));
    // 173 rows: the multi-row statements of each size and single rows.
    for (let id = 1; id <= 173; id++) {
      store.messageStored({ ...message(id), payload: bytesOf(id) });
      store.deliveryAdded(delivery("c", id, id));
    }
    raw.exec("CREATE TRIGGER refuse BEFORE INSERT ON wills BEGIN SELECT RAISE(ABORT, 'no'); END");
    await assert.rejects(store.commit(), StoreError);
    raw.exec("DROP TRIGGER refuse");
    // The retry writes the kept batch and these after it, in one transaction.
    store.willSaved("d", will([4, 5]));
    for (let id = 174; id <= 180; id++) {
      store.messageStored({ ...message(id), payload: bytesOf(id) });
      store.deliveryAdded(delivery("d", id, id));
    }
    await store.commit();
    for (let id = 1; id <= 45; id++) store.deliveryRemoved("c", id, id);
    await store.commit();
    await store.close();
    raw.close();
    const again = openSqliteStore(file, "normal");
    const state = again.load();
    assert.deepEqual([...state.wills].map(([id, w]) => [id, [...w.payload]]), [
      ["c", [1, 2, 3]],
      ["d", [4, 5]],
    ]);
    const payloads = [...state.messages].map((m) => [m.id, [...m.payload]]);
    const expected = [...Array(135).keys()].map((i) => i + 46).map((id) => [id, [...bytesOf(id)]]);
    assert.deepEqual(payloads, expected);
    assert.equal(again.summary().deliveries, 135);
    await again.close();
  });
});
