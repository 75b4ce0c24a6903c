import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../../src/plugins/password/mod.ts";
import { collect, eventually, RawClient, sleep, withBroker } from "../helpers/broker.ts";
import type { Plugin, PluginContext } from "../../src/plugins/types.ts";

// alice must be verified: a user name that no plugin checks is refused.
const dir = mkdtempSync(join(tmpdir(), "broker-acl-"));
const passwordFile = join(dir, "passwd");
before(() => writeFileSync(passwordFile, `alice:${hashPassword("x")}\n`));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = {
  auth: { "password-file": passwordFile },
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

/** A plugin that publishes `audit/<topic>` from inside the receive check of every other topic. */
function echoAudit(): Plugin {
  let context: PluginContext | undefined;
  return {
    name: "echo_audit",
    setup: (ctx) => void (context = ctx),
    topicFiltering: (_client, topic, action) => {
      if (action === "receive" && !topic.startsWith("audit/")) {
        context!.publish({
          topic: `audit/${topic}`,
          payload: new Uint8Array(),
          qos: 1,
          retain: false,
        });
      }
      return true;
    },
  };
}

describe("re-entrant publishing", () => {
  test("a plugin that publishes while a message is delivered breaks no routing", () =>
    withBroker({
      "topic-check": { enabled: true },
      plugins: ["auth_anonymous", echoAudit()],
    }, async ({ client }) => {
      const a = await client();
      const b = await client();
      const gotA = collect(a);
      const gotB = collect(b);
      await a.subscribeAsync({ "#": { qos: 1 } });
      await b.subscribeAsync({ "x/#": { qos: 0 }, "audit/#": { qos: 1 } });
      const pub = await client();
      await pub.publishAsync("x/1", "one", { qos: 1 });
      // x/1 reaches a (QoS 1) and b (QoS 0); each delivery publishes one audit/x/1 message, which
      // reaches a and b at QoS 1.
      await eventually(() => gotA.length === 3 && gotB.length === 3, 5000, "every copy");
      await sleep(50);
      const summary = (got: typeof gotA) => got.map((m) => `${m.topic}@${m.qos}`).sort();
      assert.deepEqual(summary(gotA), ["audit/x/1@1", "audit/x/1@1", "x/1@1"]);
      assert.deepEqual(summary(gotB), ["audit/x/1@1", "audit/x/1@1", "x/1@0"]);
    }));
});
