import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "../../src/store/sqlite/driver.ts";
import { SCHEMA_VERSION } from "../../src/store/sqlite/schema.ts";
import {
  eventually,
  killCli as kill,
  type Packet,
  RawClient,
  sleep,
  startCli,
  startCliListening as start,
  within,
} from "../helpers/broker.ts";

/** A folder with a config file whose store is `broker.db` in it. */
function place(sync = "normal", extra = ""): { dir: string; config: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), "persist-"));
  const config = join(dir, "broker.yaml");
  writeFileSync(
    config,
    `listeners:\n  default:\n    bind: 127.0.0.1:0\nmax-queued-messages: 10000\n` +
      `persistence:\n  path: broker.db\n  sync: ${sync}\n${extra}`,
  );
  return { dir, config, db: join(dir, "broker.db") };
}

async function exitCode(args: string[]): Promise<[number | null, string]> {
  const broker = startCli(args);
  try {
    return [await within(broker.exited, 30000, "the broker to exit"), broker.output()];
  } finally {
    broker.child.kill("SIGKILL");
  }
}

/**
 * Runs `fn` against the broker command on a fresh store ({@link place}); the test kills it and
 * starts it again through the scope. Afterwards the broker is killed and the folder removed.
 */
async function withStore(
  fn: (store: StoreScope) => Promise<void>,
  sync?: string,
): Promise<void> {
  const { dir, config } = place(sync);
  let broker = await start(config);
  try {
    await fn({
      get port() {
        return broker.port;
      },
      kill: () => kill(broker),
      start: async () => {
        broker = await start(config);
      },
    });
  } finally {
    await kill(broker);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The broker of {@link withStore}. */
interface StoreScope {
  /** The port of the broker running now. */
  readonly port: number;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts the broker again on the same store (on another port). */
  start(): Promise<void>;
}

async function client(port: number, fields: Record<string, unknown>, version: 4 | 5 = 4) {
  const c = await RawClient.connect(port, version);
  const connack = await c.handshake({ clean: false, ...fields });
  return { c, connack };
}

/** A session `clientId` (clean session 0) subscribed to `topic` at QoS 1. */
async function subscriber(port: number, clientId: string, topic: string) {
  const s = await client(port, { clientId });
  s.c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 1 }] });
  await s.c.next("suback");
  return s;
}

/** Collects PUBLISH packets until `count` arrived. */
async function publishes(c: RawClient, count: number): Promise<Packet[]> {
  const got: Packet[] = [];
  while (got.length < count) {
    const p = await c.next(undefined, 10000);
    if (p.cmd === "publish") got.push(p);
  }
  return got;
}

const text = (p: Packet) => String(p.payload);

describe("persistence across a SIGKILL", () => {
  test("retained messages, sessions with subscriptions and queues in order survive", async () => {
    await withStore(async (broker) => {
      const sub = await subscriber(broker.port, "sub", "q/#");
      sub.c.destroy();
      const pub = await client(broker.port, { clientId: "pub", clean: true });
      pub.c.send({
        cmd: "publish",
        topic: "r/1",
        payload: "kept",
        qos: 1,
        messageId: 1,
        retain: true,
      });
      await pub.c.next("puback");
      for (let i = 0; i < 5; i++) {
        pub.c.send({ cmd: "publish", topic: "q/x", payload: `m${i}`, qos: 1, messageId: 10 + i });
        await pub.c.next("puback");
      }
      await broker.kill();
      pub.c.destroy();

      await broker.start();
      const back = await client(broker.port, { clientId: "sub" });
      assert.equal(back.connack.sessionPresent, true);
      const got = await publishes(back.c, 5);
      assert.deepEqual(got.map(text), ["m0", "m1", "m2", "m3", "m4"]);
      for (const p of got) back.c.send({ cmd: "puback", messageId: p.messageId });
      // The subscription is back in the trie: a new message reaches the session.
      const other = await client(broker.port, { clientId: "pub2", clean: true });
      other.c.send({ cmd: "publish", topic: "q/y", payload: "live", qos: 0 });
      assert.equal(text((await publishes(back.c, 1))[0]), "live");
      other.c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "r/#", qos: 0 }] });
      await other.c.next("suback");
      const retained = (await publishes(other.c, 1))[0];
      assert.equal(text(retained), "kept");
      assert.equal(retained.retain, true);
      back.c.destroy();
      other.c.destroy();
    });
  });

  test("an unacknowledged delivery is sent again with DUP after the restart", async () => {
    await withStore(async (broker) => {
      const sub = await subscriber(broker.port, "sub", "t");
      const pub = await client(broker.port, { clientId: "pub", clean: true });
      pub.c.send({ cmd: "publish", topic: "t", payload: "once", qos: 1, messageId: 1 });
      await pub.c.next("puback");
      const first = (await publishes(sub.c, 1))[0];
      assert.equal(first.dup, false);
      await broker.kill();
      sub.c.destroy();
      pub.c.destroy();

      await broker.start();
      const back = await client(broker.port, { clientId: "sub" });
      const again = (await publishes(back.c, 1))[0];
      assert.equal(text(again), "once");
      assert.equal(again.dup, true);
      assert.equal(again.messageId, first.messageId);
      back.c.destroy();
    });
  });

  test("a QoS 2 message PUBREC'd before the kill and PUBREL'd after is delivered once", async () => {
    await withStore(async (broker) => {
      const sub = await subscriber(broker.port, "sub", "t");
      sub.c.destroy();
      const pub = await client(broker.port, { clientId: "pub" });
      pub.c.send({ cmd: "publish", topic: "t", payload: "exactly", qos: 2, messageId: 7 });
      await pub.c.next("pubrec");
      await broker.kill();
      pub.c.destroy();

      await broker.start();
      const back = await client(broker.port, { clientId: "pub" });
      // The publisher did not see its PUBREC arrive, say: it sends the PUBLISH again.
      back.c.send({
        cmd: "publish",
        topic: "t",
        payload: "exactly",
        qos: 2,
        messageId: 7,
        dup: true,
      });
      await back.c.next("pubrec");
      back.c.send({ cmd: "pubrel", messageId: 7 });
      await back.c.next("pubcomp");
      const reader = await client(broker.port, { clientId: "sub" });
      const got = await publishes(reader.c, 1);
      for (const p of got) reader.c.send({ cmd: "puback", messageId: p.messageId });
      await reader.c.settle();
      assert.deepEqual(
        [...got, ...reader.c.packets.filter((p) => p.cmd === "publish")].map(text),
        ["exactly"],
      );
      back.c.destroy();
      reader.c.destroy();
    });
  });

  test("every QoS 1 publish acknowledged before a kill mid-flood is delivered after", async () => {
    await withStore(async (broker) => {
      const sub = await subscriber(broker.port, "sub", "f");
      sub.c.destroy();
      const pub = await client(broker.port, { clientId: "pub", clean: true });
      const acked = new Set<number>();
      const total = 2000;
      for (let i = 1; i <= total; i++) {
        pub.c.send({ cmd: "publish", topic: "f", payload: String(i), qos: 1, messageId: i });
      }
      await eventually(
        () => {
          for (const p of pub.c.packets.splice(0)) if (p.cmd === "puback") acked.add(p.messageId!);
          return acked.size >= total / 4;
        },
        30000,
        "some acknowledgements",
      );
      await broker.kill();
      for (const p of pub.c.packets.splice(0)) if (p.cmd === "puback") acked.add(p.messageId!);
      pub.c.destroy();

      await broker.start();
      const back = await client(broker.port, { clientId: "sub" });
      const received = new Set<number>();
      // Everything stored comes; the acknowledged ones at least.
      await eventually(
        () => {
          for (const p of back.c.packets.splice(0)) {
            if (p.cmd !== "publish") continue;
            received.add(Number(text(p)));
            back.c.send({ cmd: "puback", messageId: p.messageId });
          }
          return [...acked].every((id) => received.has(id));
        },
        30000,
        "every acknowledged message",
      );
      back.c.destroy();
    }, "full");
  });

  test("session and message expiry count the time the broker was down", async () => {
    await withStore(async (broker) => {
      const short = await client(broker.port, {
        clientId: "short",
        properties: { sessionExpiryInterval: 1 },
      }, 5);
      short.c.destroy();
      const long = await client(broker.port, {
        clientId: "long",
        properties: { sessionExpiryInterval: 3600 },
      }, 5);
      long.c.destroy();
      const pub = await client(broker.port, { clientId: "pub", clean: true }, 5);
      for (const [topic, expiry] of [["gone", 1], ["stays", 3600]] as const) {
        pub.c.send({
          cmd: "publish",
          topic,
          payload: topic,
          qos: 1,
          messageId: expiry === 1 ? 1 : 2,
          retain: true,
          properties: { messageExpiryInterval: expiry },
        });
        await pub.c.next("puback");
      }
      await broker.kill();
      pub.c.destroy();
      // Down longer than the short expiries.
      await sleep(2500);

      await broker.start();
      const s = await client(broker.port, {
        clientId: "short",
        properties: { sessionExpiryInterval: 1 },
      }, 5);
      assert.equal(s.connack.sessionPresent, false);
      const l = await client(broker.port, {
        clientId: "long",
        properties: { sessionExpiryInterval: 3600 },
      }, 5);
      assert.equal(l.connack.sessionPresent, true);
      l.c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "#", qos: 0 }] });
      await l.c.next("suback");
      await l.c.settle();
      assert.deepEqual(l.c.packets.filter((p) => p.cmd === "publish").map(text), ["stays"]);
      s.c.destroy();
      l.c.destroy();
    });
  });
});

test("a will waiting for its delay when the broker died is published after the restart", async () => {
  await withStore(async (broker) => {
    const sub = await subscriber(broker.port, "sub", "w");
    sub.c.destroy();
    const dying = await client(broker.port, {
      clientId: "dying",
      properties: { sessionExpiryInterval: 3600 },
      will: {
        topic: "w",
        payload: "gone",
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 1 },
      },
    }, 5);
    dying.c.destroy();
    // Either way it is published: pending now, or due from the restart if the broker missed the end.
    await sleep(300);
    await broker.kill();
    await sleep(1500);

    await broker.start();
    const back = await client(broker.port, { clientId: "sub" });
    assert.deepEqual((await publishes(back.c, 1)).map(text), ["gone"]);
    back.c.destroy();
  });
});

test("the wills of clients connected when the broker died are published after the restart", async () => {
  await withStore(async (broker) => {
    const sub = await subscriber(broker.port, "sub", "w/#");
    sub.c.destroy();
    // A session that ends with its connection, and one that outlives it.
    const will = (topic: string) => ({ topic, payload: topic, qos: 1, retain: false });
    const clean = await client(broker.port, {
      clientId: "clean",
      clean: true,
      will: will("w/clean"),
    });
    assert.equal(clean.connack.returnCode, 0);
    const kept = await client(broker.port, { clientId: "kept", will: will("w/kept") });
    assert.equal(kept.connack.returnCode, 0);
    await broker.kill();
    clean.c.destroy();
    kept.c.destroy();

    await broker.start();
    const back = await client(broker.port, { clientId: "sub" });
    const wills = await publishes(back.c, 2);
    assert.deepEqual(wills.map(text).sort(), ["w/clean", "w/kept"]);
    for (const p of wills) back.c.send({ cmd: "puback", messageId: p.messageId });
    // A SUBACK waits for the commit, which holds the acknowledgements before it.
    back.c.send({ cmd: "subscribe", messageId: 9, subscriptions: [{ topic: "x", qos: 1 }] });
    await back.c.next("suback");
    back.c.destroy();
    // Published once: a second restart has none left.
    await broker.kill();
    await broker.start();
    const again = await client(broker.port, { clientId: "sub" });
    again.c.send({ cmd: "pingreq" });
    assert.equal((await again.c.next(undefined, 10000)).cmd, "pingresp");
    again.c.destroy();
  });
});

test("messages queued for a shared subscription's member stay its own across a restart", async () => {
  await withStore(async (broker) => {
    for (const clientId of ["m1", "m2"]) {
      const m = await subscriber(broker.port, clientId, "$share/g/t");
      m.c.destroy();
    }
    const pub = await client(broker.port, { clientId: "pub", clean: true });
    for (let i = 1; i <= 4; i++) {
      pub.c.send({ cmd: "publish", topic: "t", payload: `${i}`, qos: 1, messageId: i });
      await pub.c.next("puback");
    }
    await broker.kill();
    pub.c.destroy();

    await broker.start();
    // m1 starts afresh: the messages its old session held go to the other member, once.
    const m1 = await client(broker.port, { clientId: "m1", clean: true });
    m1.c.send({ cmd: "pingreq" });
    assert.equal((await m1.c.next(undefined, 10000)).cmd, "pingresp", "none for the new m1");
    m1.c.destroy();
    const m2 = await client(broker.port, { clientId: "m2" });
    const got = await publishes(m2.c, 4);
    assert.deepEqual(got.map(text).sort(), ["1", "2", "3", "4"]);
    m2.c.send({ cmd: "pingreq" });
    assert.equal((await m2.c.next(undefined, 10000)).cmd, "pingresp", "each once");
    m2.c.destroy();
  });
});

/**
 * A folder in which no file can be created: one without write permission, or for root, whom
 * permissions do not stop, one on a file system that refuses new files (sysfs, procfs). None
 * where neither exists.
 */
function unwritableFolder(dir: string): string | undefined {
  const candidates = process.getuid?.() === 0 ? ["/sys", "/proc"] : [join(dir, "locked")];
  if (process.getuid?.() !== 0) {
    mkdirSync(candidates[0]);
    chmodSync(candidates[0], 0o500);
  }
  for (const folder of candidates) {
    const probe = join(folder, `broker-probe-${process.pid}`);
    try {
      writeFileSync(probe, "");
      rmSync(probe);
    } catch {
      return folder;
    }
  }
  return undefined;
}

describe("a store that cannot be used", () => {
  test("a damaged file is an error naming it; --move-aside starts empty", async () => {
    const { dir, config, db } = place();
    try {
      writeFileSync(db, "not a database ".repeat(500));
      const [code, output] = await exitCode(["-c", config]);
      assert.equal(code, 2, output);
      assert.match(output, new RegExp(`${db.replace(/[/\\.]/g, "\\$&")} is damaged`));
      assert.match(output, /--move-aside/);
      const [moved, said] = await exitCode(["store", db, "--move-aside"]);
      assert.equal(moved, 0, said);
      const broker = await start(config);
      await kill(broker);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a store from a newer broker and a missing folder are errors at start", async () => {
    const { dir, config, db } = place();
    try {
      const raw = new DatabaseSync(db);
      raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      const [code, output] = await exitCode(["-c", config]);
      assert.equal(code, 2, output);
      assert.match(output, /newer broker/);
      writeFileSync(
        config,
        "listeners:\n  default:\n    bind: 127.0.0.1:0\npersistence:\n  path: no/such/b.db\n",
      );
      const [missing, said] = await exitCode(["-c", config]);
      assert.equal(missing, 2, said);
      assert.match(said, /does not exist: create/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a folder the broker cannot write is an error at start naming the file and the fix", async (t) => {
    const { dir, config } = place();
    const folder = unwritableFolder(dir);
    try {
      if (!folder) return t.skip("no folder here refuses new files");
      const file = join(folder, "b.db");
      writeFileSync(
        config,
        `listeners:\n  default:\n    bind: 127.0.0.1:0\npersistence:\n  path: ${file}\n`,
      );
      const [code, output] = await exitCode(["-c", config]);
      assert.equal(code, 2, output);
      assert.ok(output.includes(file), output);
      assert.match(output, /may read and write it and its folder|let the broker write/);
    } finally {
      if (folder?.startsWith(dir)) chmodSync(folder, 0o700);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("broker store FILE prints what the store holds", async () => {
    const { dir, config, db } = place();
    const broker = await start(config);
    try {
      const sub = await subscriber(broker.port, "sub", "a");
      sub.c.send({ cmd: "publish", topic: "r", payload: "x", qos: 1, messageId: 2, retain: true });
      await sub.c.next("puback");
      await kill(broker);
      sub.c.destroy();
      const [code, output] = await exitCode(["store", db]);
      assert.equal(code, 0, output);
      assert.match(output, /sessions\s+1/);
      assert.match(output, /subscriptions\s+1/);
      assert.match(output, /retained\s+1/);
    } finally {
      await kill(broker);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
