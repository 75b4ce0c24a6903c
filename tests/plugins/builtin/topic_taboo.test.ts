import { test } from "node:test";
import assert from "node:assert/strict";
import { filtersOverlap, topicTaboo } from "../../../src/plugins/builtin/topic_taboo.ts";
import { PluginManager } from "../../../src/plugins/manager.ts";
import type { TopicAction } from "../../../src/plugins/types.ts";
import { client, context, makeConfig, memoryLogger } from "../helpers.ts";

const plugin = topicTaboo(
  makeConfig({
    topicCheck: { enabled: true, taboo: ["prohibited", "top-secret", "data/classified/#"] },
  }),
);

function check(username: string | undefined, topic: string, action: TopicAction) {
  return plugin.topicFiltering?.(client(username), topic, action);
}

test("taboo topics are denied to everyone but admin; on the rest taboo abstains", () => {
  for (const action of ["publish", "subscribe", "receive"] as const) {
    assert.equal(check("alice", "prohibited", action), false, action);
    assert.equal(check(undefined, "top-secret", action), false, action);
    assert.equal(check("alice", "data/classified/x", action), false, action);
    assert.equal(check("admin", "prohibited", action), undefined, action);
    assert.equal(check("admin", "data/classified/x", action), undefined, action);
    assert.equal(check("alice", "allowed", action), undefined, action);
    assert.equal(check("alice", "prohibited/not", action), undefined, action);
  }
});

test("a subscription that could match a taboo topic is denied", () => {
  assert.equal(check("alice", "#", "subscribe"), false);
  assert.equal(check("alice", "+", "subscribe"), false);
  assert.equal(check("alice", "data/+/x", "subscribe"), false);
  assert.equal(check("alice", "data/public/#", "subscribe"), undefined);
  assert.equal(check("admin", "#", "subscribe"), undefined);
});

test("filtersOverlap", () => {
  const yes: [string, string][] = [
    ["a/#", "a"],
    ["a", "a/#"],
    ["+/b", "a/+"],
    ["#", "a/b/c"],
    ["$SYS/#", "$SYS/x"],
    ["a/+/c", "a/b/#"],
  ];
  const no: [string, string][] = [
    ["a/b", "a"],
    ["a/+", "a"],
    ["#", "$SYS/x"],
    ["$SYS/x", "+/x"],
    ["a/b", "a/c"],
    ["a/+/c", "a/b/d"],
  ];
  for (const [a, b] of yes) assert.equal(filtersOverlap(a, b), true, `${a} ~ ${b}`);
  for (const [a, b] of no) assert.equal(filtersOverlap(a, b), false, `${a} !~ ${b}`);
});

test("invalid taboo entries are logged and ignored", async () => {
  const p = topicTaboo(makeConfig({ topicCheck: { taboo: ["a/#/b"] } }));
  const logger = memoryLogger();
  await p.setup?.(context(makeConfig(), logger));
  assert.ok(logger.lines.some((l) => l.includes("a/#/b")));
  assert.equal(p.topicFiltering?.(client("u"), "#", "subscribe"), undefined);
});

test("named alone in topic-check.plugins it warns that every topic is denied", async () => {
  const config = makeConfig({ topicCheck: { enabled: true, plugins: ["topic.taboo"] } });
  const logger = memoryLogger();
  await topicTaboo(config).setup?.(context(config, logger));
  assert.ok(logger.lines.some((l) => l.startsWith("warn") && /every topic is denied/.test(l)));

  const both = makeConfig({ topicCheck: { enabled: true, plugins: ["topic_acl", "topic_taboo"] } });
  const quiet = memoryLogger();
  await topicTaboo(both).setup?.(context(both, quiet));
  assert.deepEqual(quiet.lines, []);
});

test("with topic_acl, a topic passes when the ACL allows it and it is not taboo", async () => {
  const manager = await PluginManager.load(
    makeConfig({
      topicCheck: {
        enabled: true,
        plugins: ["topic_acl", "topic_taboo"],
        acl: { alice: ["#"], admin: ["prohibited", "public/#"] },
        taboo: ["prohibited"],
      },
    }),
    memoryLogger(),
    () => {},
  );
  const may = (user: string, topic: string, action: TopicAction) =>
    manager.checkTopic(client(user), topic, action);
  assert.equal(may("alice", "public/x", "publish"), true);
  assert.equal(may("alice", "prohibited", "publish"), false, "taboo wins over the ACL");
  assert.equal(may("alice", "#", "subscribe"), false, "# could read a taboo topic");
  assert.equal(may("admin", "prohibited", "publish"), true, "admin is exempt from the taboo");
  assert.equal(may("admin", "other", "publish"), false, "but not from the ACL");
  assert.equal(may("bob", "public/x", "publish"), false, "no ACL entry");
});
