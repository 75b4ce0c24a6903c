/**
 * Sessions of a dead node: a durable session's copy in Redis lets a client whose node was
 * killed resume on another node (subscriptions, queue, messages in flight, QoS 2 state); clean
 * sessions leave nothing there; a disconnected session's copy expires; a node that lost the
 * lease cannot overwrite the copy.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, connect, eventually, memoryLogger, RawClient } from "../helpers/broker.ts";
import type { Redis } from "ioredis";
import {
  propagated,
  redisClient,
  redisSkip,
  startChildNode,
  startNode,
  suiteRedis,
  type TestRedis,
} from "./helpers.ts";
import * as keys from "../../src/cluster/keys.ts";
import { Leases } from "../../src/cluster/lease.ts";
import { SessionMirror } from "../../src/cluster/mirror.ts";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

const options = {
  qos: 1 as const,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0 as const,
  subscriptionId: undefined,
  shareGroup: undefined,
};

/** Two nodes' session mirrors over their own Redis connections, with a lease each. */
interface TwoMirrors {
  one: Redis;
  first: SessionMirror;
  second: SessionMirror;
  leases1: Leases;
  leases2: Leases;
}

/** Runs `body` with {@link TwoMirrors} for client id `id`, then removes what they wrote. */
async function withTwoMirrors(
  redis: TestRedis,
  id: string,
  body: (m: TwoMirrors) => Promise<void>,
): Promise<void> {
  const one = await redisClient(redis);
  const two = await redisClient(redis);
  const first = new SessionMirror(memoryLogger());
  const second = new SessionMirror(memoryLogger());
  const leases1 = new Leases(one, `${id}-1`);
  const leases2 = new Leases(two, `${id}-2`);
  first.bind(one, leases1);
  second.bind(two, leases2);
  try {
    await body({ one, first, second, leases1, leases2 });
  } finally {
    first.close();
    second.close();
    await one.del(keys.session(id), keys.lease(id), keys.leases(`${id}-1`), keys.leases(`${id}-2`));
    one.disconnect();
    two.disconnect();
  }
}

/** A durable session record of user `u`. */
const durable = (clientId: string) => ({
  clientId,
  username: "u",
  protocolVersion: 4,
  expiryMs: 60_000,
  expiresAt: 0,
});

describe("cluster: sessions of a dead node", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("a client whose node was SIGKILLed resumes on another node: session present, in flight again with DUP, the queue in order, QoS 2 exactly once, its subscription routes", async () => {
    const b = await startNode(redis, "dead-b");
    const a = await startChildNode(redis, "dead-a");
    const look = await redisClient(redis);
    const watcher = await connect(b.url, { clientId: "dead-watch" });
    const pub = await connect(a.url, { clientId: "dead-pub" });
    const first = await RawClient.connect(portOf(a.url), 5);
    const resume = {
      clientId: "dead-sub",
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    };
    try {
      await watcher.subscribeAsync("p/#", { qos: 2 });
      const seen = collect(watcher);
      await propagated(pub, watcher);
      assert.equal((await first.handshake(resume)).sessionPresent, false);
      first.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "m/#", qos: 2 }] });
      await first.next("suback");
      // In flight to the client: a QoS 2 PUBLISH it never answers.
      await pub.publishAsync("m/2", "in flight", { qos: 2 });
      const inflight = await first.next("publish");
      // From the client: a QoS 2 PUBLISH the broker answered with PUBREC, PUBREL not sent yet.
      first.send({ cmd: "publish", topic: "p/x", payload: "once", qos: 2, messageId: 9 });
      await first.next("pubrec");
      await eventually(() => seen.some((m) => m.topic === "p/x"), 10_000, "p/x on node b");
      first.destroy();
      // Node a saw the connection end once the copy counts down its expiry.
      await eventually(
        async () => (await look.pttl(keys.session("dead-sub"))) > 0,
        10_000,
        "the copy to start expiring",
      );
      // Queued while the client is away; each PUBACK came once Redis had the copy.
      for (let i = 0; i < 3; i++) await pub.publishAsync("m/1", `queued ${i}`, { qos: 1 });
      await a.kill();
      await eventually(
        async () => (await look.exists(keys.alive("dead-a"))) === 0,
        10_000,
        "node a's heartbeat to lapse",
      );
      const second = await RawClient.connect(portOf(b.url), 5);
      try {
        const connack = await second.handshake(resume);
        assert.equal(connack.reasonCode, 0);
        assert.equal(connack.sessionPresent, true);
        const again = await second.next("publish");
        assert.equal(again.dup, true);
        assert.equal(again.messageId, inflight.messageId);
        assert.equal(again.qos, 2);
        assert.equal(String(again.payload), "in flight");
        const queued: string[] = [];
        for (let i = 0; i < 3; i++) {
          const p = await second.next("publish");
          assert.equal(p.qos, 1);
          queued.push(String(p.payload));
          second.send({ cmd: "puback", messageId: p.messageId });
        }
        assert.deepEqual(queued, ["queued 0", "queued 1", "queued 2"]);
        second.send({ cmd: "pubrec", messageId: again.messageId });
        assert.equal((await second.next("pubrel")).messageId, again.messageId);
        second.send({ cmd: "pubcomp", messageId: again.messageId });
        // Its own QoS 2 PUBLISH again: not routed twice; PUBREL completes it.
        second.send({
          cmd: "publish",
          topic: "p/x",
          payload: "once",
          qos: 2,
          messageId: 9,
          dup: true,
        });
        assert.equal((await second.next("pubrec")).messageId, 9);
        second.send({ cmd: "pubrel", messageId: 9 });
        assert.equal((await second.next("pubcomp")).messageId, 9);
        // The subscription moved with it: a new message reaches it on node b.
        const pub2 = await connect(b.url, { clientId: "dead-pub2" });
        try {
          await pub2.publishAsync("m/1", "after", { qos: 1 });
          const after = await second.next("publish");
          assert.equal(String(after.payload), "after");
          second.send({ cmd: "puback", messageId: after.messageId });
          await pub2.publishAsync("p/end", "end", { qos: 1 });
          await eventually(() => seen.some((m) => m.topic === "p/end"), 10_000, "the end marker");
        } finally {
          pub2.end(true);
        }
        assert.equal(seen.filter((m) => m.topic === "p/x").length, 1);
        await second.settle();
        assert.deepEqual(second.packets, []);
      } finally {
        second.destroy();
      }
    } finally {
      first.destroy();
      pub.end(true);
      watcher.end(true);
      look.disconnect();
      await a.kill();
      await b.broker.close();
    }
  });

  test("a clean session leaves nothing in Redis; a durable one's copy has no expiry while connected and expires once disconnected", async () => {
    const n = await startNode(redis, "copy-n");
    const look = await redisClient(redis);
    const pub = await connect(n.url, { clientId: "copy-pub" });
    const clean = await connect(n.url, {
      clientId: "copy-clean",
      will: { topic: "w/clean", payload: "gone", qos: 1, retain: false },
    });
    const durable = await RawClient.connect(portOf(n.url), 5);
    try {
      await clean.subscribeAsync("c/#", { qos: 1 });
      const got = collect(clean);
      await durable.handshake({
        clientId: "copy-durable",
        clean: false,
        properties: { sessionExpiryInterval: 1 },
      });
      durable.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "c/#", qos: 1 }] });
      await durable.next("suback");
      // SUBACK waited for the copy.
      assert.equal(await look.hexists(keys.session("copy-durable"), "f:c/#"), 1);
      assert.equal(await look.pttl(keys.session("copy-durable")), -1);
      for (let i = 0; i < 3; i++) await pub.publishAsync("c/x", `m ${i}`, { qos: 1 });
      for (let i = 0; i < 3; i++) {
        const p = await durable.next("publish");
        durable.send({ cmd: "puback", messageId: p.messageId });
      }
      await eventually(() => got.length >= 3, 10_000, "the clean subscriber's messages");
      // A session ended while connected (5.0 DISCONNECT with expiry 0) leaves no copy behind.
      const ending = await RawClient.connect(portOf(n.url), 5);
      try {
        await ending.handshake({
          clientId: "copy-ending",
          clean: false,
          properties: { sessionExpiryInterval: 60 },
        });
        assert.equal(await look.exists(keys.session("copy-ending")), 1);
        ending.send({
          cmd: "disconnect",
          reasonCode: 0,
          properties: { sessionExpiryInterval: 0 },
        });
        await ending.waitClosed();
      } finally {
        ending.destroy();
      }
      await eventually(
        async () => (await look.exists(keys.session("copy-ending"))) === 0,
        10_000,
        "the ended session's copy to go",
      );
      await clean.endAsync();
      assert.equal(await look.exists(keys.session("copy-clean")), 0);
      durable.destroy();
      await eventually(
        async () => (await look.pttl(keys.session("copy-durable"))) > 0,
        10_000,
        "the copy to start expiring",
      );
      await eventually(
        async () => (await look.exists(keys.session("copy-durable"))) === 0,
        10_000,
        "the copy to expire",
      );
      assert.equal(await look.exists(keys.session("copy-clean")), 0);
    } finally {
      durable.destroy();
      clean.end(true);
      pub.end(true);
      look.disconnect();
      await n.broker.close();
    }
  });

  test("a node that lost the lease cannot overwrite the copy the new holder wrote, nor delete it", async () => {
    const id = "stale-copy";
    await withTwoMirrors(redis, id, async ({ one, first, second, leases1, leases2 }) => {
      const session = durable(id);
      assert.ok((await leases1.claim(id, "u")).granted);
      first.sessionSaved(session);
      first.subscriptionAdded({ clientId: id, filter: "one/#", options });
      await first.flush(5000);
      assert.equal(await one.hexists(keys.session(id), "f:one/#"), 1);
      // Node 2 takes the lease and writes the session whole.
      assert.ok((await leases2.claim(id, "u")).granted);
      second.sessionSaved(session);
      second.subscriptionAdded({ clientId: id, filter: "two/#", options });
      await second.flush(5000);
      // Node 1 still thinks it holds the lease: Redis refuses what it writes.
      first.subscriptionAdded({ clientId: id, filter: "stale/#", options });
      await first.flush(5000);
      first.sessionEnded(id);
      await first.flush(5000);
      assert.deepEqual(Object.keys(await one.hgetall(keys.session(id))).sort(), [
        "e",
        "f:two/#",
        "u",
        "v",
        "x",
      ]);
    });
  });

  test("a session claimed again on its own node is written in parts; once another node wrote it, whole", async () => {
    const id = "reclaimed";
    await withTwoMirrors(redis, id, async ({ one, first, second, leases1, leases2 }) => {
      const session = durable(id);
      const fields = async () => Object.keys(await one.hgetall(keys.session(id))).sort();
      assert.ok((await leases1.claim(id, "u")).granted);
      first.sessionSaved(session);
      first.subscriptionAdded({ clientId: id, filter: "one/#", options });
      await first.flush(5000);
      // A field no write of this node makes: a whole write would remove it.
      await one.hset(keys.session(id), "mark", "1");
      // The client comes back to the same node: a new epoch, and only what changed is written.
      const again = await leases1.claim(id, "u");
      assert.ok(again.granted);
      first.sessionSaved(session);
      first.subscriptionAdded({ clientId: id, filter: "two/#", options });
      await first.flush(5000);
      assert.deepEqual(await fields(), ["e", "f:one/#", "f:two/#", "mark", "u", "v", "x"]);
      assert.equal(await one.hget(keys.session(id), "e"), String(again.epoch));
      // Another node takes the session over and writes it whole.
      assert.ok((await leases2.claim(id, "u")).granted);
      second.sessionSaved(session);
      second.subscriptionAdded({ clientId: id, filter: "three/#", options });
      await second.flush(5000);
      // Back on the first node, which still has its own copy: its parts would mix two
      // sessions, so Redis refuses them and the first node writes its copy whole.
      const back = await leases1.claim(id, "u");
      assert.ok(back.granted);
      first.subscriptionAdded({ clientId: id, filter: "four/#", options });
      const writes = first.figures().commits;
      await first.commit();
      let releasedAfter: number | undefined;
      const held = first.holdOutput(() => releasedAfter = first.figures().commits - writes);
      assert.ok(held, "an acknowledgement waits for Redis");
      await first.flush(5000);
      await eventually(() => releasedAfter !== undefined, 5000, "the held acknowledgement");
      assert.equal(releasedAfter, 2, "it waited for the whole copy, not the refused part");
      assert.deepEqual(await fields(), ["e", "f:four/#", "f:one/#", "f:two/#", "u", "v", "x"]);
      assert.equal(await one.hget(keys.session(id), "e"), String(back.epoch));
    });
  });

  test("another user cannot resume a dead node's session from its copy, nor wipe it with a clean start", async () => {
    const trustAll = { name: "trust_all", authenticate: () => true };
    const n = await startNode(redis, "owner-n", { plugins: [trustAll] });
    const look = await redisClient(redis);
    try {
      // The copy of a session of alice whose node is gone (no lease).
      await look.hset(keys.session("owned"), "u", "alice", "v", "4", "x", "60000");
      for (const clean of [false, true]) {
        const thief = await RawClient.connect(portOf(n.url));
        try {
          const connack = await thief.handshake({ clientId: "owned", clean, username: "mallory" });
          assert.equal(connack.returnCode, 5);
        } finally {
          thief.destroy();
        }
      }
      assert.equal(await look.hget(keys.session("owned"), "u"), "alice");
      const owner = await RawClient.connect(portOf(n.url));
      try {
        const connack = await owner.handshake({
          clientId: "owned",
          clean: false,
          username: "alice",
        });
        assert.equal(connack.returnCode, 0);
        assert.equal(connack.sessionPresent, true);
      } finally {
        owner.destroy();
      }
    } finally {
      await look.del(keys.session("owned"));
      look.disconnect();
      await n.broker.close();
    }
  });

  test("a node that holds the lease and does not answer: after cluster.handover-timeout the session is resumed from its copy", async () => {
    const n = await startNode(redis, "mute-n", {
      cluster: { redis: redis.url, node: "mute-n", heartbeat: 0.5, "handover-timeout": 0.3 },
    });
    const look = await redisClient(redis);
    try {
      // A node alive by its heartbeat that never answers, and the copy of its client's session.
      await look.set(keys.alive("mute"), "run", "PX", 60_000);
      await look.hset(keys.lease("mute-client"), "node", "mute", "epoch", 1, "user", "");
      await look.hset(
        keys.session("mute-client"),
        "u",
        "",
        "v",
        "4",
        "x",
        "60000",
        "f:g/#",
        JSON.stringify([0, options]),
      );
      const client = await RawClient.connect(portOf(n.url));
      const pub = await connect(n.url, { clientId: "mute-pub" });
      try {
        const connack = await client.handshake({ clientId: "mute-client", clean: false });
        assert.equal(connack.returnCode, 0);
        assert.equal(connack.sessionPresent, true);
        await pub.publishAsync("g/x", "kept", { qos: 1 });
        const p = await client.next("publish");
        assert.equal(String(p.payload), "kept");
        assert.equal(p.qos, 1);
      } finally {
        client.destroy();
        pub.end(true);
      }
      assert.match(
        n.lines.join("\n"),
        /node mute did not hand over the session of client id mute-client/,
      );
    } finally {
      await look.del(keys.alive("mute"), keys.session("mute-client"));
      look.disconnect();
      await n.broker.close();
    }
  });
});
