import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SubscriptionTree } from "../../src/broker/subscriptions.ts";

function matches(tree: SubscriptionTree<string>, topic: string): string[] {
  const out: string[] = [];
  tree.match(topic, (s, qos) => out.push(`${s}:${qos}`));
  return out.sort();
}

describe("SubscriptionTree", () => {
  test("exact, + and # filters; a/# matches a; $ topics skip first-level wildcards", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("a/b", "exact", 0);
    tree.add("a/+", "plus", 1);
    tree.add("a/#", "hash", 2);
    tree.add("#", "all", 0);
    tree.add("+/b", "first", 1);
    tree.add("$SYS/#", "sys", 0);
    assert.deepEqual(matches(tree, "a/b"), ["all:0", "exact:0", "first:1", "hash:2", "plus:1"]);
    assert.deepEqual(matches(tree, "a"), ["all:0", "hash:2"]);
    assert.deepEqual(matches(tree, "a/b/c"), ["all:0", "hash:2"]);
    assert.deepEqual(matches(tree, "$SYS/x"), ["sys:0"]);
  });

  test("re-adding replaces the QoS; remove prunes and reports", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("x/y", "s", 0);
    tree.add("x/y", "s", 2);
    assert.equal(tree.size, 1);
    assert.deepEqual(matches(tree, "x/y"), ["s:2"]);
    assert.equal(tree.remove("x/y", "s"), true);
    assert.equal(tree.remove("x/y", "s"), false);
    assert.equal(tree.remove("nope", "s"), false);
    assert.equal(tree.size, 0);
    assert.deepEqual(matches(tree, "x/y"), []);
  });

  test("one subscriber with overlapping filters is visited once per filter", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("a/+", "s", 0);
    tree.add("a/#", "s", 2);
    assert.deepEqual(matches(tree, "a/b"), ["s:0", "s:2"]);
  });
});
