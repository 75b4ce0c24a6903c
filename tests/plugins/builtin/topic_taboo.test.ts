import { test } from "node:test";
import assert from "node:assert/strict";
import { filtersOverlap, topicTaboo } from "../../../src/plugins/builtin/topic_taboo.ts";
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

test("taboo topics are denied to everyone but admin", () => {
  for (const action of ["publish", "subscribe", "receive"] as const) {
    assert.equal(check("alice", "prohibited", action), false, action);
    assert.equal(check(undefined, "top-secret", action), false, action);
    assert.equal(check("alice", "data/classified/x", action), false, action);
    assert.equal(check("admin", "prohibited", action), true, action);
    assert.equal(check("admin", "data/classified/x", action), true, action);
    assert.equal(check("alice", "allowed", action), true, action);
    assert.equal(check("alice", "prohibited/not", action), true, action);
  }
});

test("a subscription that could match a taboo topic is denied", () => {
  assert.equal(check("alice", "#", "subscribe"), false);
  assert.equal(check("alice", "+", "subscribe"), false);
  assert.equal(check("alice", "data/+/x", "subscribe"), false);
  assert.equal(check("alice", "data/public/#", "subscribe"), true);
  assert.equal(check("admin", "#", "subscribe"), true);
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
  assert.equal(p.topicFiltering?.(client("u"), "#", "subscribe"), true);
});
