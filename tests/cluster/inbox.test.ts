/**
 * The two ends of cross-node traffic on their own: the inbox delivers a batch sent twice once,
 * the outbox sends again what Redis lost before the target read it, and bounds what waits while
 * Redis is away.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import { RoutedMessage } from "../../src/broker/message.ts";
import { encodeBatch, encodeFrame, type Frame } from "../../src/cluster/frame.ts";
import { Inbox } from "../../src/cluster/inbox.ts";
import { type ClusterCounters, Outbox } from "../../src/cluster/outbox.ts";
import { eventually, memoryLogger, sleep } from "../helpers/broker.ts";
import { redisClient, redisSkip, suiteRedis } from "./helpers.ts";

const counters = (): ClusterCounters => ({
  messagesOut: 0,
  messagesIn: 0,
  duplicates: 0,
  dropped: 0,
});

function frame(seq: number, payload: string): Uint8Array {
  const message = new RoutedMessage("t", new TextEncoder().encode(payload), 1, false);
  return encodeFrame({ seq, message, plain: true, shares: [] });
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe("cluster inbox and outbox", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("a batch appended twice is delivered once, in order", async () => {
    const writer = await redisClient(redis);
    const reader = await redisClient(redis);
    const got: Frame[] = [];
    const count = counters();
    const inbox = new Inbox(
      reader,
      writer,
      "dedup",
      { lastId: "0-0", seen: new Map() },
      (f) => got.push(f),
      () => false,
      count,
      memoryLogger(),
    );
    inbox.start();
    try {
      const batch = Buffer.from(encodeBatch([frame(1, "a"), frame(2, "b")]));
      await writer.xadd("mqtt:inbox:dedup", "*", "o", "n/1", "b", batch);
      await writer.xadd("mqtt:inbox:dedup", "*", "o", "n/1", "b", batch);
      await writer.xadd(
        "mqtt:inbox:dedup",
        "*",
        "o",
        "n/1",
        "b",
        Buffer.from(encodeBatch([frame(3, "c")])),
      );
      await eventually(() => got.length >= 3 && count.duplicates >= 2, 10_000, "three messages");
      assert.deepEqual(got.map((f) => new TextDecoder().decode(f.message.payload)), [
        "a",
        "b",
        "c",
      ]);
      // How far it read is in Redis, for senders and for a restart.
      await until(
        async () => (await writer.hget("mqtt:offsets:dedup", "n/1")) === "3",
        "the offset",
      );
    } finally {
      await inbox.close();
      writer.disconnect();
    }
  });

  test("what Redis lost before its target read it goes again", async () => {
    const conn = await redisClient(redis);
    const look = await redisClient(redis);
    const count = counters();
    const outbox = new Outbox(conn, "me/1", 100, count, memoryLogger());
    try {
      for (let i = 0; i < 3; i++) {
        const seq = outbox.nextSeq();
        outbox.add("lost", frame(seq, String(i)), seq, true);
      }
      await until(async () => (await look.xlen("mqtt:inbox:lost")) === 1, "the first XADD");
      assert.equal(outbox.buffered, 3, "kept until the target has read it");
      await look.flushall();
      outbox.resendUnread();
      await until(async () => (await look.xlen("mqtt:inbox:lost")) === 1, "the batch again");
      await eventually(() => count.messagesOut === 6, 10_000, "Redis to answer");
      outbox.read("lost", 3);
      assert.equal(outbox.buffered, 0);
    } finally {
      await outbox.close(1000);
      conn.disconnect();
      look.disconnect();
    }
  });

  test("a marker goes in its target's stream and is not counted as a message", async () => {
    const conn = await redisClient(redis);
    const look = await redisClient(redis);
    const count = counters();
    const outbox = new Outbox(conn, "me/1", 100, count, memoryLogger());
    try {
      for (let i = 0; i < 2; i++) {
        const seq = outbox.nextSeq();
        outbox.add("marked", frame(seq, String(i)), seq, true);
      }
      const seq = outbox.nextSeq();
      const marker = encodeFrame({
        seq,
        message: new RoutedMessage("", new Uint8Array(0), 1, false),
        plain: false,
        shares: [],
        marker: "me/1 1 c",
      });
      outbox.add("marked", marker, seq, true, true);
      await until(async () => (await look.xlen("mqtt:inbox:marked")) === 1, "the XADD");
      await eventually(() => count.messagesOut > 0, 10_000, "Redis to answer");
      assert.equal(count.messagesOut, 2);
      assert.equal(outbox.buffered, 3, "the marker waits to be read like a message");
      outbox.read("marked", seq);
      assert.equal(outbox.buffered, 0);
    } finally {
      await outbox.close(1000);
      conn.disconnect();
      look.disconnect();
    }
  });

  test("while Redis is away messages wait up to the bound, then are dropped and counted", async () => {
    // Never connected: the link is down from the start.
    const away = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false });
    const count = counters();
    const logger = memoryLogger();
    const outbox = new Outbox(away, "me/2", 2, count, logger);
    try {
      for (let i = 0; i < 3; i++) {
        const seq = outbox.nextSeq();
        outbox.add("far", frame(seq, String(i)), seq, true);
      }
      await sleep(10);
      assert.equal(outbox.buffered, 2);
      assert.equal(count.dropped, 1);
      assert.match(logger.lines.join("\n"), /cluster\.max-buffered-messages 2 reached/);
      // Buffered while Redis is away counts as safe: acknowledgements are not held for ever.
      assert.equal(outbox.holdOutput(() => {}), false);
    } finally {
      await outbox.close(0);
      away.disconnect();
    }
  });
});
