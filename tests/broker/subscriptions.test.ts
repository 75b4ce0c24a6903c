import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type SubscriptionOptions,
  subscriptionOptions,
  SubscriptionTree,
} from "../../src/broker/subscriptions.ts";
import type { QoS } from "../../src/protocol/packets.ts";

/** 3.1.1 options at `qos`. */
const at = (qos: QoS): SubscriptionOptions => subscriptionOptions({ filter: "", qos });

function matches(tree: SubscriptionTree<string>, topic: string): string[] {
  const out: string[] = [];
  tree.match(topic, (s, options) => out.push(`${s}:${options.qos}`));
  return out.sort();
}

describe("SubscriptionTree", () => {
  test("exact, + and # filters; a/# matches a; $ topics skip first-level wildcards", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("a/b", "exact", at(0));
    tree.add("a/+", "plus", at(1));
    tree.add("a/#", "hash", at(2));
    tree.add("#", "all", at(0));
    tree.add("+/b", "first", at(1));
    tree.add("$SYS/#", "sys", at(0));
    assert.deepEqual(matches(tree, "a/b"), ["all:0", "exact:0", "first:1", "hash:2", "plus:1"]);
    assert.deepEqual(matches(tree, "a"), ["all:0", "hash:2"]);
    assert.deepEqual(matches(tree, "a/b/c"), ["all:0", "hash:2"]);
    assert.deepEqual(matches(tree, "$SYS/x"), ["sys:0"]);
  });

  test("re-adding replaces the options; remove prunes and reports", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("x/y", "s", at(0));
    tree.add("x/y", "s", at(2));
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
    tree.add("a/+", "s", at(0));
    tree.add("a/#", "s", at(2));
    assert.deepEqual(matches(tree, "a/b"), ["s:0", "s:2"]);
  });
});
