import { test } from "node:test";
import assert from "node:assert/strict";
import { topicAcl } from "../../../src/plugins/builtin/topic_acl.ts";
import type { Plugin, TopicAction } from "../../../src/plugins/types.ts";
import type { ConfigOverrides } from "../helpers.ts";
import { client, context, makeConfig, memoryLogger } from "../helpers.ts";

function acl(topicCheck: ConfigOverrides["topicCheck"]): Plugin {
  return topicAcl(makeConfig({ topicCheck: { enabled: true, ...topicCheck } }));
}

function check(
  plugin: Plugin,
  username: string | undefined,
  topic: string,
  action: TopicAction = "subscribe",
  clientId = "c1",
) {
  return plugin.topicFiltering?.(client(username, clientId), topic, action);
}

const SEED = {
  acl: {
    username1: ["repositories/+/master", "calendar/#", "data/memes"],
    anonymous: ["public/#"],
  },
};

test("filters are checked level by level", () => {
  const plugin = acl(SEED);
  assert.equal(check(plugin, "username1", "calendar/#"), true);
  assert.equal(check(plugin, "username1", "calendar"), true);
  assert.equal(check(plugin, "username1", "calendar/+/x"), true);
  assert.equal(check(plugin, "username1", "repositories/broker/master"), true);
  assert.equal(check(plugin, "username1", "repositories/+/master"), true);
  assert.equal(check(plugin, "username1", "data/memes"), true);
  assert.equal(check(plugin, "username1", "#"), false, "# is wider than calendar/#");
  assert.equal(check(plugin, "username1", "+/x"), false);
  assert.equal(check(plugin, "username1", "repositories/#"), false);
  assert.equal(check(plugin, "username1", "repositories/a/dev"), false);
  assert.equal(check(plugin, "username1", "data/memes/x"), false);
  assert.equal(check(plugin, "username1", "data/+"), false);
});

test("the anonymous entry applies to clients without user name; unknown users get nothing", () => {
  const plugin = acl(SEED);
  assert.equal(check(plugin, undefined, "public/news"), true);
  assert.equal(check(plugin, "", "public/news"), true);
  assert.equal(check(plugin, undefined, "calendar/x"), false);
  assert.equal(check(plugin, "stranger", "public/news"), false);
  assert.equal(
    acl({ acl: { username1: ["#"] } }).topicFiltering?.(client(), "a", "publish"),
    false,
  );
});

test("%u and %c are replaced by the user name and the client id", () => {
  const plugin = acl({ acl: { alice: ["users/%u/#", "devices/%c/+"], anonymous: ["users/%u/#"] } });
  assert.equal(check(plugin, "alice", "users/alice/inbox"), true);
  assert.equal(check(plugin, "alice", "users/bob/inbox"), false);
  assert.equal(check(plugin, "alice", "devices/dev-7/status", "publish", "dev-7"), true);
  assert.equal(check(plugin, "alice", "devices/dev-8/status", "publish", "dev-7"), false);
  assert.equal(check(plugin, undefined, "users/anonymous/x"), false, "no user name, no %u");
});

test("a user name or client id cannot widen a filter with wildcards or levels", () => {
  const plugin = acl({ acl: { "+": ["users/%u/#"], "a/b": ["users/%u/#"], bob: ["d/%c"] } });
  assert.equal(check(plugin, "+", "users/alice/x"), false);
  assert.equal(check(plugin, "+", "users/+/x"), false);
  assert.equal(check(plugin, "a/b", "users/a/b/x"), false);
  assert.equal(check(plugin, "bob", "d/#", "subscribe", "#"), false);
});

test("$SYS topics need a filter that names $SYS", () => {
  const wide = acl({ acl: { u: ["#", "+/broker/#"] } });
  assert.equal(check(wide, "u", "$SYS/broker/uptime", "publish"), false);
  assert.equal(check(wide, "u", "$SYS/#"), false);
  const sys = acl({ acl: { u: ["$SYS/#"] } });
  assert.equal(check(sys, "u", "$SYS/broker/uptime"), true);
  assert.equal(check(sys, "u", "$SYS/#"), true);
  assert.equal(check(sys, "u", "other"), false);
});

test("acl governs publish too, unless publish-acl is given", () => {
  const shared = acl({ acl: { u: ["a/#"] } });
  assert.equal(check(shared, "u", "a/1", "publish"), true);
  assert.equal(check(shared, "u", "b/1", "publish"), false);
  assert.equal(check(shared, "u", "a/1", "receive"), true);

  const split = acl({ acl: { u: ["a/#"] }, publishAcl: { u: ["b/#"], anonymous: ["p"] } });
  assert.equal(check(split, "u", "a/1", "subscribe"), true);
  assert.equal(check(split, "u", "a/1", "publish"), false);
  assert.equal(check(split, "u", "b/1", "publish"), true);
  assert.equal(check(split, "u", "b/1", "subscribe"), false);
  assert.equal(check(split, undefined, "p", "publish"), true);
  assert.equal(check(split, undefined, "p", "subscribe"), false);
});

test("invalid filters are ignored with a warning; no acl at all denies", async () => {
  const plugin = acl({ acl: { u: ["a/#/b", "ok/+"] } });
  const logger = memoryLogger();
  await plugin.setup?.(context(makeConfig(), logger));
  assert.ok(logger.lines.some((l) => l.startsWith("warn") && l.includes("a/#/b")));
  assert.equal(check(plugin, "u", "ok/1"), true);
  assert.equal(check(plugin, "u", "a/x/b"), false);

  const none = acl({});
  const noneLogger = memoryLogger();
  await none.setup?.(context(makeConfig({ topicCheck: { enabled: true } }), noneLogger));
  assert.ok(noneLogger.lines.some((l) => l.includes("denies every topic")));
  assert.equal(check(none, "u", "a"), false);
});
