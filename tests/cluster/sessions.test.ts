/**
 * Sessions across nodes: a client that reconnects to another node resumes its subscriptions,
 * queue and messages in flight (resent with DUP), QoS 2 stays exactly once across the move, the
 * old connection is told it was taken over, another user cannot take the session, and the lease
 * epoch refuses a stale node's writes.
 *
 * @module
 */
import { describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { collect, connect, eventually, RawClient } from "../helpers/broker.ts";
import { propagated, redisClient, redisSkip, startNode, suiteRedis } from "./helpers.ts";
import { Leases } from "../../src/cluster/lease.ts";
import * as keys from "../../src/cluster/keys.ts";
import type { Plugin } from "../../src/plugins/types.ts";

/** Admits every user name, so that two users can contend for one client id. */
const trustAll: Plugin = { name: "trust_all", authenticate: () => true };

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe("cluster sessions", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("a client that reconnects to another node resumes its subscriptions and gets what was queued while it was away", async () => {
    const a = await startNode(redis, "resume-a");
    const b = await startNode(redis, "resume-b");
    const pub = await connect(a.url, { clientId: "resume-pub" });
    try {
      const first = await connect(a.url, { clientId: "resume-sub", clean: false });
      await first.subscribeAsync("r/#", { qos: 1 });
      await first.endAsync();
      for (let i = 0; i < 5; i++) await pub.publishAsync("r/x", `queued ${i}`, { qos: 1 });
      const again = await connect(b.url, { clientId: "resume-sub", clean: false });
      const got = collect(again);
      try {
        await eventually(() => got.length >= 5, 10_000, "the queued messages on node b");
        assert.deepEqual(
          got.map((m) => m.payload.toString()),
          [0, 1, 2, 3, 4].map((i) => `queued ${i}`),
        );
        // The subscription moved with the session: node b announced it, node a routes there.
        await propagated(pub, again);
        await pub.publishAsync("r/y", "after", { qos: 1 });
        await eventually(() => got.some((m) => m.topic === "r/y"), 10_000, "a new message");
        assert.equal(got.filter((m) => m.topic.startsWith("r/")).length, 6);
      } finally {
        again.end(true);
      }
    } finally {
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("a 5.0 takeover from another node: 0x8E to the old connection, session present, QoS 1 in flight again with DUP", async () => {
    const a = await startNode(redis, "dup-a");
    const b = await startNode(redis, "dup-b");
    const pub = await connect(a.url, { clientId: "dup-pub" });
    const old = await RawClient.connect(portOf(a.url), 5);
    try {
      const connack = await old.handshake({
        clientId: "dup-sub",
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      assert.equal(connack.sessionPresent, false);
      old.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "d/#", qos: 1 }] });
      await old.next("suback");
      await pub.publishAsync("d/1", "in flight", { qos: 1 });
      const sent = await old.next("publish");
      assert.equal(sent.dup, false);
      // Not acknowledged: it is in flight when node b takes the session over.
      const fresh = await RawClient.connect(portOf(b.url), 5);
      try {
        const resumed = await fresh.handshake({
          clientId: "dup-sub",
          clean: false,
          properties: { sessionExpiryInterval: 60 },
        });
        assert.equal(resumed.reasonCode, 0);
        assert.equal(resumed.sessionPresent, true);
        const disconnect = await old.next("disconnect");
        assert.equal(disconnect.reasonCode, 0x8e);
        await old.waitClosed();
        const again = await fresh.next("publish");
        assert.equal(again.dup, true);
        assert.equal(again.messageId, sent.messageId);
        assert.equal(again.topic, "d/1");
        assert.equal(String(again.payload), "in flight");
        fresh.send({ cmd: "puback", messageId: again.messageId, reasonCode: 0 });
        await fresh.settle();
        assert.deepEqual(fresh.packets, []);
      } finally {
        fresh.destroy();
      }
    } finally {
      old.destroy();
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("QoS 2 stays exactly once across a move: a PUBLISH resent to the new node is not routed again, a PUBREL in flight goes again", async () => {
    const a = await startNode(redis, "q2-a");
    const b = await startNode(redis, "q2-b");
    const watcher = await connect(b.url, { clientId: "q2-watch" });
    const publisher = await RawClient.connect(portOf(a.url));
    const receiver = await RawClient.connect(portOf(a.url));
    try {
      await watcher.subscribeAsync("q2/#", { qos: 2 });
      const seen = collect(watcher);
      await receiver.handshake({ clientId: "q2-recv", clean: false });
      receiver.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "q2/#", qos: 2 }] });
      await receiver.next("suback");
      await publisher.handshake({ clientId: "q2-pub", clean: false });
      const probe = await connect(a.url, { clientId: "q2-probe" });
      await propagated(probe, watcher);
      probe.end(true);
      const message = { cmd: "publish", topic: "q2/x", payload: "once", qos: 2, messageId: 7 };
      publisher.send(message);
      await publisher.next("pubrec");
      // The receiver on node a takes it to PUBREL.
      const delivered = await receiver.next("publish");
      receiver.send({ cmd: "pubrec", messageId: delivered.messageId });
      await receiver.next("pubrel");
      await eventually(() => seen.some((m) => m.topic === "q2/x"), 10_000, "the message on node b");
      publisher.destroy();
      receiver.destroy();

      // Both move to node b without having finished: neither end may see it twice.
      const pub2 = await RawClient.connect(portOf(b.url));
      const recv2 = await RawClient.connect(portOf(b.url));
      try {
        assert.equal(
          (await pub2.handshake({ clientId: "q2-pub", clean: false })).sessionPresent,
          true,
        );
        pub2.send({ ...message, dup: true });
        await pub2.next("pubrec");
        pub2.send({ cmd: "pubrel", messageId: 7 });
        await pub2.next("pubcomp");
        assert.equal(
          (await recv2.handshake({ clientId: "q2-recv", clean: false })).sessionPresent,
          true,
        );
        const pubrel = await recv2.next("pubrel");
        assert.equal(pubrel.messageId, delivered.messageId);
        recv2.send({ cmd: "pubcomp", messageId: delivered.messageId });
        await recv2.settle();
        assert.deepEqual(recv2.packets, [], "no PUBLISH again");
        await pub2.settle();
        // Anything routed again would have reached the watcher by now: it is on node b too.
        const probe2 = await connect(b.url, { clientId: "q2-probe2" });
        await probe2.publishAsync("q2/end", "end", { qos: 1 });
        await eventually(() => seen.some((m) => m.topic === "q2/end"), 10_000, "the end marker");
        probe2.end(true);
        assert.equal(seen.filter((m) => m.topic === "q2/x").length, 1);
      } finally {
        pub2.destroy();
        recv2.destroy();
      }
    } finally {
      publisher.destroy();
      receiver.destroy();
      watcher.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("with persistence, a session handed over is in the new node's store: its messages in flight survive a restart there", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cluster-sessions-"));
    const persistence = { persistence: { path: join(dir, "b.db") } };
    const a = await startNode(redis, "keep-a");
    let b = await startNode(redis, "keep-b", persistence);
    const pub = await connect(a.url, { clientId: "keep-pub" });
    const first = await RawClient.connect(portOf(a.url));
    try {
      await first.handshake({ clientId: "keep-sub", clean: false });
      first.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "k/#", qos: 1 }] });
      await first.next("suback");
      for (let i = 0; i < 3; i++) await pub.publishAsync("k/x", `kept ${i}`, { qos: 1 });
      for (let i = 0; i < 3; i++) await first.next("publish");
      first.destroy();
      // Resent on node b, and not acknowledged there either.
      const second = await RawClient.connect(portOf(b.url));
      try {
        assert.equal(
          (await second.handshake({ clientId: "keep-sub", clean: false })).sessionPresent,
          true,
        );
        for (let i = 0; i < 3; i++) assert.equal((await second.next("publish")).dup, true);
      } finally {
        second.destroy();
      }
      await b.broker.close();
      b = await startNode(redis, "keep-b", persistence);
      const third = await RawClient.connect(portOf(b.url));
      try {
        assert.equal(
          (await third.handshake({ clientId: "keep-sub", clean: false })).sessionPresent,
          true,
        );
        const again: string[] = [];
        for (let i = 0; i < 3; i++) again.push(String((await third.next("publish")).payload));
        assert.deepEqual(again, ["kept 0", "kept 1", "kept 2"]);
      } finally {
        third.destroy();
      }
    } finally {
      first.destroy();
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("another user cannot take or resume a session held on another node: CONNACK 0x87 (3.1.1: 5)", async () => {
    const a = await startNode(redis, "own-a", { plugins: [trustAll] });
    const b = await startNode(redis, "own-b", { plugins: [trustAll] });
    const owner = await RawClient.connect(portOf(a.url), 5);
    try {
      const connack = await owner.handshake({
        clientId: "own-id",
        clean: false,
        username: "alice",
        properties: { sessionExpiryInterval: 60 },
      });
      assert.equal(connack.reasonCode, 0);
      for (const version of [5, 4] as const) {
        const thief = await RawClient.connect(portOf(b.url), version);
        try {
          const connack = await thief.handshake({
            clientId: "own-id",
            clean: false,
            username: "mallory",
          });
          if (version === 5) assert.equal(connack.reasonCode, 0x87);
          else assert.equal(connack.returnCode, 5);
        } finally {
          thief.destroy();
        }
      }
      // The owner's connection is untouched.
      await owner.settle();
      assert.deepEqual(owner.packets, []);
      assert.match(b.lines.join("\n"), /belongs to "alice" on another node, not "mallory"/);
    } finally {
      owner.destroy();
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("a node that does not answer: after cluster.handover-timeout the client gets a new session, logged", async () => {
    const b = await startNode(redis, "silent-b", {
      cluster: { redis: redis.url, node: "silent-b", heartbeat: 0.5, "handover-timeout": 0.3 },
    });
    const look = await redisClient(redis);
    try {
      // A node that is alive by its heartbeat but never answers.
      await look.set(keys.alive("ghost"), "run", "PX", 60_000);
      await look.hset(keys.lease("ghost-client"), "node", "ghost", "epoch", 1, "user", "");
      const client = await RawClient.connect(portOf(b.url));
      try {
        const connack = await client.handshake({ clientId: "ghost-client", clean: false });
        assert.equal(connack.returnCode, 0);
        assert.equal(connack.sessionPresent, false);
      } finally {
        client.destroy();
      }
      assert.match(
        b.lines.join("\n"),
        /node ghost did not hand over the session of client id ghost-client/,
      );
      assert.equal(await look.hget(keys.lease("ghost-client"), "node"), "silent-b");
    } finally {
      await look.del(keys.alive("ghost"));
      look.disconnect();
      await b.broker.close();
    }
  });

  test("while Redis is away a CONNECT is admitted without a lease, as on a node alone, logged", async () => {
    const a = await startNode(redis, "away-a");
    try {
      await redis.stop();
      const client = await RawClient.connect(portOf(a.url));
      try {
        assert.equal(
          (await client.handshake({ clientId: "away-client", clean: false })).returnCode,
          0,
        );
      } finally {
        client.destroy();
      }
      assert.match(a.lines.join("\n"), /cannot take the lease of client id away-client/);
    } finally {
      await redis.start();
      await a.broker.close();
    }
  });

  test("the lease is fenced: a node that lost it can neither write about the session nor release it", async () => {
    const one = await redisClient(redis);
    const two = await redisClient(redis);
    try {
      await one.set(keys.alive("fence-1"), "run", "PX", 60_000);
      const first = new Leases(one, "fence-1");
      const second = new Leases(two, "fence-2");
      const a = await first.claim("fenced", "u");
      assert.ok(a.granted);
      const b = await second.claim("fenced", "u");
      assert.ok(b.granted);
      assert.ok(b.epoch > a.epoch);
      assert.equal(b.previous, "fence-1");
      assert.equal(b.previousAlive, true);
      // Node 1 still thinks it holds epoch a: Redis refuses it.
      const bytes = new TextEncoder().encode("stale");
      assert.equal(
        await first.fencedSet("fenced", a.epoch, "mqtt:test:fenced", bytes, 10_000),
        false,
      );
      assert.equal(await one.exists("mqtt:test:fenced"), 0);
      assert.equal(await first.release("fenced"), false);
      assert.equal(await one.hget(keys.lease("fenced"), "node"), "fence-2");
      assert.equal(
        await second.fencedSet("fenced", b.epoch, "mqtt:test:fenced", bytes, 10_000),
        true,
      );
      // Another user, while the holder's heartbeat is fresh: refused.
      await two.set(keys.alive("fence-2"), "run", "PX", 60_000);
      const other = await first.claim("fenced", "v");
      assert.deepEqual(other, { granted: false, owner: "u" });
      // Released at its epoch; a new claim takes a newer epoch still.
      assert.equal(await second.release("fenced"), true);
      const c = await first.claim("fenced", "v");
      assert.ok(c.granted && c.epoch > b.epoch && c.previous === undefined);
      // A node that died: the leases it still holds go, those claimed from it since stay.
      await first.claim("dropped", "v");
      await first.claim("moved", "v");
      await second.claim("moved", "v");
      await second.dropNode("fence-1");
      assert.equal(await one.exists(keys.lease("dropped"), keys.lease("fenced")), 0);
      assert.equal(await one.hget(keys.lease("moved"), "node"), "fence-2");
      assert.equal(await one.exists(keys.leases("fence-1")), 0);
    } finally {
      await one.del(keys.alive("fence-1"), keys.alive("fence-2"), "mqtt:test:fenced");
      await new Leases(two, "fence-2").dropNode("fence-2");
      one.disconnect();
      two.disconnect();
    }
  });
});
