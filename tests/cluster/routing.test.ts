/**
 * Messages across nodes: QoS 0, 1 and 2 reach subscribers on other nodes in order, only nodes
 * with a matching filter get them, an acknowledgement waits until Redis has the message,
 * retained messages are the same everywhere and a shared subscription gives each message to one
 * member in the whole cluster.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, connect, eventually } from "../helpers/broker.ts";
import {
  clusterSys,
  propagated,
  redisClient,
  redisSkip,
  startNode,
  suiteRedis,
} from "./helpers.ts";

describe("cluster routing", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("QoS 0, 1 and 2 cross nodes, each once, in order, and only to nodes that want them", async () => {
    const a = await startNode(redis, "route-a");
    const b = await startNode(redis, "route-b");
    const c = await startNode(redis, "route-c");
    const sub = await connect(b.url, { clientId: "sub" });
    const other = await connect(c.url, { clientId: "other" });
    const pub = await connect(a.url, { clientId: "pub" });
    const look = await redisClient(redis);
    try {
      await sub.subscribeAsync("t/#", { qos: 2 });
      await other.subscribeAsync("elsewhere/#", { qos: 2 });
      await propagated(pub, sub);
      await propagated(pub, other);
      for (let i = 0; i < 30; i++) {
        await pub.publishAsync(`t/${i % 3}`, String(i), { qos: (i % 3) as 0 | 1 | 2 });
      }
      const got = () => collect(sub).filter((m) => m.topic.startsWith("t/"));
      await eventually(() => got().length >= 30, 10_000, "30 messages");
      assert.equal(got().length, 30, "each message once");
      for (let q = 0; q < 3; q++) {
        const ofQos = got().filter((m) => m.qos === q).map((m) => Number(m.payload));
        assert.equal(ofQos.length, 10);
        assert.deepEqual(ofQos, [...ofQos].sort((x, y) => x - y), `QoS ${q} in order`);
      }
      // Routing by interest: node c has no matching filter, so its inbox got nothing.
      assert.ok(await look.xlen("mqtt:inbox:route-b") > 0);
      assert.equal(await look.xlen("mqtt:inbox:route-c"), 0);
      assert.equal(collect(other).filter((m) => m.topic.startsWith("t/")).length, 0);
    } finally {
      look.disconnect();
      for (const client of [sub, other, pub]) client.end(true);
      for (const node of [a, b, c]) await node.broker.close();
    }
  });

  test("a QoS 1 flood of several publishers crosses nodes over many batches: each message once, each publisher's in order", async () => {
    // The subscriber's node keeps its defaults, 20 in flight: most messages wait in its queue.
    const a = await startNode(redis, "flood-a");
    const b = await startNode(redis, "flood-b");
    const sub = await connect(b.url, { clientId: "flood-sub" });
    const pubs = await Promise.all(
      [0, 1, 2].map((p) => connect(a.url, { clientId: `flood-pub-${p}` })),
    );
    // Fewer than the default max-queued-messages (1,000) in all, or the queue would drop some.
    const each = 300;
    try {
      await sub.subscribeAsync("flood/#", { qos: 1 });
      await propagated(pubs[0], sub);
      // Not awaited one by one: many messages per read of the network, so many batches.
      await Promise.all(
        pubs.flatMap((pub, p) =>
          Array.from(
            { length: each },
            (_, i) => pub.publishAsync(`flood/${p}`, String(i), { qos: 1 }),
          )
        ),
      );
      const got = () => collect(sub).filter((m) => m.topic.startsWith("flood/"));
      await eventually(() => got().length >= 3 * each, 20_000, `${3 * each} messages`);
      assert.equal(got().length, 3 * each, "each message once");
      for (let p = 0; p < 3; p++) {
        const ofPub = got().filter((m) => m.topic === `flood/${p}`).map((m) => Number(m.payload));
        assert.deepEqual(
          ofPub,
          Array.from({ length: each }, (_, i) => i),
          `publisher ${p} in order`,
        );
      }
    } finally {
      for (const client of [sub, ...pubs]) client.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("a PUBACK is sent once Redis has the message for the other node", async () => {
    const a = await startNode(redis, "ack-a");
    const b = await startNode(redis, "ack-b");
    const sub = await connect(b.url, { clientId: "ack-sub" });
    const pub = await connect(a.url, { clientId: "ack-pub" });
    const look = await redisClient(redis);
    try {
      await sub.subscribeAsync("held/#", { qos: 1 });
      await propagated(pub, sub);
      // Writes wait in Redis for a while: the PUBACK must wait for the XADD.
      await look.call("CLIENT", "PAUSE", "300", "WRITE");
      await pub.publishAsync("held/1", "x", { qos: 1 });
      assert.equal(await look.xlen("mqtt:inbox:ack-b"), 1);
      await eventually(() => collect(sub).some((m) => m.topic === "held/1"));
    } finally {
      look.disconnect();
      sub.end(true);
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("retained messages: set on one node, read on any, also by a node that joins later", async () => {
    const a = await startNode(redis, "ret-a");
    const pub = await connect(a.url, { clientId: "ret-pub" });
    try {
      await pub.publishAsync("ret/1", "one", { qos: 1, retain: true });
      const b = await startNode(redis, "ret-b");
      try {
        const sub = await connect(b.url, { clientId: "ret-sub" });
        await sub.subscribeAsync("ret/#", { qos: 1 });
        await eventually(() => collect(sub).some((m) => m.payload === "one" && m.retain));
        // A change on b reaches a's mirror.
        await sub.publishAsync("ret/1", "two", { qos: 1, retain: true });
        const late = await connect(a.url, { clientId: "ret-late" });
        await eventually(
          () => {
            late.subscribe("ret/#");
            return collect(late).some((m) => m.payload === "two" && m.retain);
          },
          10_000,
          "the retained change to reach node a",
        );
        sub.end(true);
        late.end(true);
      } finally {
        await b.broker.close();
      }
    } finally {
      pub.end(true);
      await a.broker.close();
    }
  });

  test("a shared subscription across nodes gives each message to exactly one member", async () => {
    const a = await startNode(redis, "share-a");
    const b = await startNode(redis, "share-b");
    const c = await startNode(redis, "share-c");
    const onA = await connect(a.url, { clientId: "member-a", protocolVersion: 5 });
    const onB = await connect(b.url, { clientId: "member-b", protocolVersion: 5 });
    const pub = await connect(c.url, { clientId: "share-pub" });
    try {
      await onA.subscribeAsync("$share/g/jobs/#", { qos: 1 });
      await onB.subscribeAsync("$share/g/jobs/#", { qos: 1 });
      await propagated(pub, onA);
      await propagated(pub, onB);
      for (let i = 0; i < 20; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
      const jobs = () =>
        [...collect(onA), ...collect(onB)].filter((m) => m.topic.startsWith("jobs/"));
      await eventually(() => jobs().length >= 20, 10_000, "20 jobs");
      const payloads = jobs().map((m) => Number(m.payload)).sort((x, y) => x - y);
      assert.deepEqual(payloads, Array.from({ length: 20 }, (_, i) => i), "each job once");
      assert.ok(collect(onA).length > 0 && collect(onB).length > 0, "both nodes take turns");
    } finally {
      for (const client of [onA, onB, pub]) client.end(true);
      for (const node of [a, b, c]) await node.broker.close();
    }
  });

  test("a client id connecting to another node takes over: the old connection gets 0x8E", async () => {
    // Admits every user name, so that the test is about ownership, not about authentication.
    const config = { plugins: [{ name: "trust_all", authenticate: () => true }] };
    const a = await startNode(redis, "take-a", config);
    const b = await startNode(redis, "take-b", config);
    const clients = [];
    try {
      const alice = await connect(a.url, {
        clientId: "same",
        username: "alice",
        protocolVersion: 5,
      });
      const first = await connect(a.url, { clientId: "roam", protocolVersion: 5 });
      clients.push(alice, first);
      const codes = new Map<string, number | undefined>();
      alice.on("disconnect", (p) => codes.set("alice", p.reasonCode));
      first.on("disconnect", (p) => codes.set("roam", p.reasonCode));
      // Another user with the same client id elsewhere is refused, and alice's connection stays.
      await assert.rejects(
        connect(b.url, { clientId: "same", username: "bob", password: "x", protocolVersion: 5 }),
        (error: Error & { code?: number }) => error.code === 0x87,
      );
      clients.push(await connect(b.url, { clientId: "roam", protocolVersion: 5 }));
      await eventually(() => codes.has("roam"), 10_000, "the takeover");
      assert.equal(codes.get("roam"), 0x8e);
      assert.equal(codes.has("alice"), false);
      assert.equal(alice.connected, true);
    } finally {
      for (const c of clients) c.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });

  test("$SYS shows the cluster; a node name already up is refused, naming the key", async () => {
    const a = await startNode(redis, "sys-a", { sys_interval: 0.1 });
    const b = await startNode(redis, "sys-b");
    const sub = await connect(b.url, { clientId: "sys-sub" });
    const pub = await connect(a.url, { clientId: "sys-pub" });
    try {
      const sys = clusterSys(a.broker);
      await sub.subscribeAsync("sys/#", { qos: 1 });
      await propagated(pub, sub);
      await pub.publishAsync("sys/1", "x", { qos: 1 });
      await eventually(
        () => sys.get("nodes/up") === "2" && Number(sys.get("messages/out")) >= 1,
        10_000,
        "the cluster figures",
      );
      assert.equal(sys.get("node"), "sys-a");
      await assert.rejects(
        startNode(redis, "sys-a"),
        /cluster\.node: a node named sys-a is up already/,
      );
    } finally {
      sub.end(true);
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });
});
