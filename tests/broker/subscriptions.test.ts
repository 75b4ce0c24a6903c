import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Room,
  ROOM_NOW,
  ROOM_QUEUE,
  type ShareGroup,
  type SubscriptionOptions,
  subscriptionOptions,
  SubscriptionTree,
} from "../../src/broker/subscriptions.ts";
import { sharedFilter, subscriptionFilterError } from "../../src/protocol/topic.ts";
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

describe("shared subscriptions in the tree", () => {
  const shared = (group: string) =>
    subscriptionOptions({ filter: "", qos: 1 }, 1, undefined, group);

  test("a group is visited once per match, apart from plain subscriptions", () => {
    const tree = new SubscriptionTree<string>();
    tree.add("s/#", "m1", shared("g"));
    tree.add("s/#", "m2", shared("g"));
    tree.add("s/+", "m3", shared("g"));
    tree.add("s/#", "plain", at(0));
    const groups: ShareGroup<string>[] = [];
    const plain: string[] = [];
    tree.match("s/x", (s) => plain.push(s), (g) => groups.push(g));
    assert.deepEqual(plain, ["plain"]);
    assert.deepEqual(groups.map((g) => [g.filter, g.size]).sort(), [["s/#", 2], ["s/+", 1]]);
    assert.equal(tree.size, 4);
    assert.ok(tree.remove("s/#", "m1", "g"));
    assert.ok(!tree.remove("s/#", "m1", "g"));
    assert.ok(tree.remove("s/#", "m2", "g"));
    assert.equal(tree.group("s/#", "g"), undefined, "an emptied group is pruned");
    assert.equal(tree.size, 2);
  });

  test("pick: round-robin over members with room, else the first that can queue", () => {
    const tree = new SubscriptionTree<string>();
    for (const m of ["a", "b", "c"]) tree.add("t", m, shared("g"));
    const group = tree.group("t", "g")!;
    const room = new Map<string, Room>([["a", ROOM_NOW], ["b", ROOM_NOW], ["c", ROOM_NOW]]);
    const pick = (except?: string) => group.pick((s) => room.get(s)!, except)?.subscriber;
    assert.deepEqual([pick(), pick(), pick(), pick()], ["a", "b", "c", "a"]);
    room.set("c", ROOM_QUEUE);
    assert.deepEqual([pick(), pick()], ["b", "a"]);
    room.set("a", 0);
    room.set("b", ROOM_QUEUE);
    assert.equal(pick(), "b", "the first that can queue after the last pick");
    assert.equal(pick("c"), "b");
    room.set("b", 0);
    room.set("c", 0);
    assert.equal(pick(), undefined);
  });

  test("share names: parsed, and malformed ones refused", () => {
    assert.deepEqual(sharedFilter("$share/g/a/#"), { group: "g", filter: "a/#" });
    assert.equal(sharedFilter("a/b"), undefined);
    for (const bad of ["$share//a", "$share/g", "$share/g/", "$share/+/a", "$share/#/a"]) {
      assert.ok(subscriptionFilterError(bad), bad);
    }
    assert.equal(subscriptionFilterError("$share/g/+/x"), undefined);
    assert.equal(subscriptionFilterError("$shared/+/x"), undefined, "only $share/ is special");
  });
});
