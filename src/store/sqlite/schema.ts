/**
 * The SQLite store's schema, versioned in `PRAGMA user_version`: `MIGRATIONS[n]` takes a store
 * from version n to n + 1, so a store of any earlier version is brought up to date at open.
 *
 * @module
 */

/** Each step in order; a store's version is how many it has had. */
export const MIGRATIONS: readonly string[] = [
  // 1: sessions, their subscriptions, wills and QoS 2 receive state; messages stored once and
  // referenced by deliveries (queued or in flight) and by retained topics.
  `CREATE TABLE sessions (
     client_id TEXT PRIMARY KEY, username TEXT, protocol INTEGER NOT NULL,
     expiry_ms REAL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE wills (
     client_id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
     retain INTEGER NOT NULL, properties TEXT, due_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE subscriptions (
     client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, no_local INTEGER NOT NULL,
     retain_as_published INTEGER NOT NULL, retain_handling INTEGER NOT NULL,
     subscription_id INTEGER, share_group TEXT, PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
   CREATE TABLE messages (
     id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
     retain INTEGER NOT NULL, properties TEXT, expires_at INTEGER NOT NULL);
   CREATE TABLE deliveries (
     client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL,
     qos INTEGER NOT NULL, retain INTEGER NOT NULL, packet_id INTEGER NOT NULL,
     released INTEGER NOT NULL, ids TEXT, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
   CREATE INDEX deliveries_message ON deliveries (message_id);
   CREATE TABLE retained (topic TEXT PRIMARY KEY, message_id INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX retained_message ON retained (message_id);
   CREATE TABLE receiving (
     client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
     PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;`,
  // 2: the shared subscription a delivery was given to its session for, so that the session
  // still owns it after a restart, and hands it to another member if it leaves the group.
  `ALTER TABLE deliveries ADD COLUMN share TEXT;`,
  // 3: the store counts each message's references in memory (from the rows it loads), so no
  // query looks deliveries or retained topics up by message any more: their upkeep on every
  // delivery was most of a commit's cost.
  `DROP INDEX deliveries_message; DROP INDEX retained_message;`,
];

/** The version this broker writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
