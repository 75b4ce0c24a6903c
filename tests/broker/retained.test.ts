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

describe("RetainedStore bounds", () => {
  const payloadOf = (store: RetainedStore, topic: string) =>
    matches(store, topic).map((m) => new TextDecoder().decode(m.payload));

  test("past max-messages a new topic is refused; replacing and deleting still work", () => {
    const store = new RetainedStore({ maxMessages: 2, maxBytes: 0 });
    assert.equal(store.set(msg("a", "1")), true);
    assert.equal(store.set(msg("b", "1")), true);
    assert.equal(store.set(msg("c", "1")), false);
    assert.deepEqual(topics(store, "#"), ["a", "b"]);
    assert.equal(store.set(msg("a", "2")), true, "a replacement is no new message");
    assert.deepEqual(payloadOf(store, "a"), ["2"]);
    assert.equal(store.set(msg("b", "")), true);
    assert.equal(store.set(msg("c", "1")), true, "room again after a delete");
    assert.deepEqual(topics(store, "#"), ["a", "c"]);
  });

  test("bytes count the UTF-8 topic and the payload; an oversized replacement deletes the old", () => {
    const store = new RetainedStore({ maxMessages: 0, maxBytes: 10 });
    assert.equal(store.set(msg("é/b", "12345")), true, "4 topic bytes + 5 = 9");
    assert.equal(store.bytes, 9);
    assert.equal(store.set(msg("x", "12")), false, "9 + 3 > 10");
    assert.equal(store.set(msg("é/b", "123456")), true, "10 fits exactly");
    assert.equal(store.bytes, 10);
    assert.equal(store.set(msg("é/b", "1234567")), false);
    assert.equal(store.size, 0, "the outdated message went too");
    assert.equal(store.bytes, 0);
    assert.equal(store.set(msg("x", "12")), true);
  });

  test("matching is lazy and each entry gives the topic's current message", () => {
    const store = new RetainedStore();
    store.set(msg("t/1", "old"));
    store.set(msg("t/2", "old"));
    store.set(msg("t/3", "old"));
    const entries = store.matching("t/#");
    const first = entries.next().value!;
    const second = entries.next().value!;
    store.set(msg("t/2", "new"));
    store.set(msg("t/3", ""));
    assert.equal(new TextDecoder().decode(first.message!.payload), "old");
    assert.equal(new TextDecoder().decode(second.message!.payload), "new");
    assert.equal(entries.next().done, true, "t/3 was deleted before the cursor reached it");
  });
});
