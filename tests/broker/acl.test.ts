import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { collect, eventually, RawClient, sleep, withBroker } from "../helpers/broker.ts";

const config = {
  "topic-check": {
    enabled: true,
    plugins: ["topic_acl"],
    acl: {
      alice: ["calendar/#", "devices/%c/#", "$SYS/#"],
      anonymous: ["public/#"],
    },
    "publish-acl": {
      alice: ["calendar/alice/#", "devices/%c/#"],
      anonymous: ["public/#"],
    },
  },
};

describe("topic ACL, end to end", () => {
  test("SUBACK grants what the ACL covers and 0x80 for the rest, level by level", () =>
    withBroker(config, async ({ port }) => {
      const c = await RawClient.connect(port);
      try {
        await c.handshake({ clientId: "dev1", username: "alice", password: Buffer.from("x") });
        c.send({
          cmd: "subscribe",
          messageId: 1,
          subscriptions: [
            { topic: "calendar/+/today", qos: 1 },
            { topic: "#", qos: 0 },
            { topic: "devices/dev1/temp", qos: 2 },
            { topic: "devices/dev2/temp", qos: 2 },
            { topic: "$SYS/broker/uptime", qos: 0 },
          ],
        });
        assert.deepEqual((await c.next("suback")).granted, [1, 128, 2, 128, 0]);
      } finally {
        c.destroy();
      }
    }));

  test("a denied publish is acknowledged, never delivered, and logged", () =>
    withBroker(config, async ({ client, logger }) => {
      const watcher = await client({ username: "alice", password: "x", clientId: "w" });
      const got = collect(watcher);
      await watcher.subscribeAsync("calendar/#", { qos: 1 });
      const pub = await client({ username: "alice", password: "x", clientId: "p" });
      await pub.publishAsync("calendar/bob/x", "not yours", { qos: 1 });
      await pub.publishAsync("calendar/alice/x", "yours", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the allowed message");
      await sleep(50);
      assert.deepEqual(got.map((m) => m.payload), ["yours"]);
      assert.ok(logger.lines.some((l) => /denied .* publishing to calendar\/bob\/x/.test(l)));
    }));

  test("anonymous clients get the anonymous entry", () =>
    withBroker(config, async ({ raw }) => {
      const anon = await raw();
      await anon.handshake();
      anon.send({
        cmd: "subscribe",
        messageId: 2,
        subscriptions: [{ topic: "public/x", qos: 0 }, { topic: "calendar/#", qos: 0 }],
      });
      assert.deepEqual((await anon.next("suback")).granted, [0, 128]);
    }));
});

describe("receive checks", () => {
  test("a plugin can refuse delivery per message, synchronously or not", () =>
    withBroker({
      "topic-check": { enabled: true },
      plugins: ["auth_anonymous", {
        name: "no_secrets",
        topicFiltering: (_client, topic, action) => {
          if (action !== "receive") return true;
          if (topic === "later/secret") return Promise.resolve(false);
          return topic !== "now/secret";
        },
      }],
    }, async ({ client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("#", { qos: 1 });
      const pub = await client();
      for (const topic of ["now/secret", "later/secret", "now/open", "later/open"]) {
        await pub.publishAsync(topic, topic, { qos: 1 });
      }
      await eventually(() => got.length === 2, 5000, "the open messages");
      await sleep(50);
      assert.deepEqual(got.map((m) => m.topic).sort(), ["later/open", "now/open"]);
    }));
});
