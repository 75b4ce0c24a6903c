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

test("substitution is literal: $ patterns in a value are not interpreted", () => {
  const plugin = acl({ acl: { alice: ["devices/%c/#"], "$'": ["users/%u/#"] } });
  for (const id of ["$'", "$&", "$$", "$`", "$1", "$<x>"]) {
    assert.equal(check(plugin, "alice", `devices/${id}/x`, "publish", id), true, id);
    assert.equal(check(plugin, "alice", `devices/${id}/#`, "subscribe", id), true, id);
    assert.equal(check(plugin, "alice", "devices/other/x", "publish", id), false, id);
    // What replaceAll made of them: `$'` gave devices//#/#, `$&` gave devices/%c/#.
    assert.equal(check(plugin, "alice", "devices//x", "publish", id), false, id);
    assert.equal(check(plugin, "alice", "devices/%c/x", "publish", id), false, id);
    assert.equal(check(plugin, "alice", "devices/#", "subscribe", id), false, id);
  }
  assert.equal(check(plugin, "$'", "users/$'/x", "publish"), true);
  assert.equal(check(plugin, "$'", "users//x", "publish"), false);
});

test("each token is replaced once: a user named %c does not get the client id", () => {
  const plugin = acl({ acl: { "%c": ["users/%u/#"], "%u": ["d/%c/%u"] } });
  assert.equal(check(plugin, "%c", "users/%c/x", "publish", "dev1"), true);
  assert.equal(check(plugin, "%c", "users/dev1/x", "publish", "dev1"), false);
  assert.equal(check(plugin, "%u", "d/%u/%u", "publish", "%u"), true);
  assert.equal(check(plugin, "%u", "d/x/%u", "publish", "x"), true);
  assert.equal(check(plugin, "%u", "d/x/x", "publish", "x"), false);
});

test("values with +, # or / get nothing from the filter, whatever is asked", () => {
  const plugin = acl({
    acl: { alice: ["devices/%c/status"], "a+": ["u/%u"], "a#": ["u/%u"], "x/y": ["u/%u/#"] },
  });
  for (const id of ["+", "#", "a/b", "+/+", "a+b", "/"]) {
    for (
      const topic of ["devices/+/status", "devices/#", `devices/${id}/status`, "devices/a/status"]
    ) {
      assert.equal(check(plugin, "alice", topic, "subscribe", id), false, `${id} ${topic}`);
    }
    assert.equal(check(plugin, "alice", "devices/a/status", "publish", id), false, id);
  }
  assert.equal(check(plugin, "a+", "u/+", "subscribe"), false);
  assert.equal(check(plugin, "a#", "u/#", "subscribe"), false);
  assert.equal(check(plugin, "x/y", "u/x/y/z", "publish"), false);
  assert.equal(check(plugin, "x/y", "u/x/#", "subscribe"), false);
});

test("a value that opens the filter cannot move it into $SYS", () => {
  const plugin = acl({ acl: { anonymous: ["%c/#"], "$SYS": ["%u/#"] } });
  assert.equal(check(plugin, undefined, "dev1/x", "publish", "dev1"), true);
  assert.equal(check(plugin, undefined, "$SYS/broker/uptime", "subscribe", "$SYS"), false);
  assert.equal(check(plugin, undefined, "$SYS/#", "subscribe", "$SYS"), false);
  assert.equal(check(plugin, "$SYS", "$SYS/#", "subscribe"), false);
});
