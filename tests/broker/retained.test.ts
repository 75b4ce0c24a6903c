import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RetainedStore } from "../../src/broker/retained.ts";
import { RoutedMessage } from "../../src/broker/message.ts";

const msg = (topic: string, payload = "x") =>
  new RoutedMessage(topic, new TextEncoder().encode(payload), 0, true);

function matches(store: RetainedStore, filter: string): RoutedMessage[] {
  const out: RoutedMessage[] = [];
  const entries = store.matching(filter);
  for (let step = entries.next(); !step.done; step = entries.next()) out.push(step.value.message!);
  return out;
}

function topics(store: RetainedStore, filter: string): string[] {
  return matches(store, filter).map((m) => m.topic).sort();
}

describe("RetainedStore", () => {
  test("stores, replaces and deletes with an empty payload", () => {
    const store = new RetainedStore();
    store.set(msg("a/b", "1"));
    store.set(msg("a/b", "2"));
    assert.equal(store.size, 1);
    assert.equal(new TextDecoder().decode(matches(store, "a/b")[0].payload), "2");
    store.set(msg("a/b", ""));
    assert.equal(store.size, 0);
    assert.deepEqual(topics(store, "#"), []);
  });

  test("matches filters, with a/# matching a and $ topics hidden from wildcards", () => {
    const store = new RetainedStore();
    for (const t of ["a", "a/b", "a/b/c", "b/b", "$SYS/x", "/lead"]) store.set(msg(t));
    assert.deepEqual(topics(store, "#"), ["/lead", "a", "a/b", "a/b/c", "b/b"]);
    assert.deepEqual(topics(store, "a/#"), ["a", "a/b", "a/b/c"]);
    assert.deepEqual(topics(store, "+/b"), ["a/b", "b/b"]);
    assert.deepEqual(topics(store, "+"), ["a"]);
    assert.deepEqual(topics(store, "+/+"), ["/lead", "a/b", "b/b"]);
    assert.deepEqual(topics(store, "$SYS/#"), ["$SYS/x"]);
  });
});
