import { test } from "node:test";
import assert from "node:assert/strict";
import { cachedTopic } from "../../src/protocol/topic_cache.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const bytes = (text: string) => new TextEncoder().encode(text);

test("a topic is decoded once, then answered from the table with the same text", () => {
  let decodes = 0;
  const decode = (raw: Uint8Array) => {
    decodes++;
    return utf8.decode(raw);
  };
  const topic = `cache/${Math.random()}`;
  assert.equal(cachedTopic(bytes(topic), decode), topic);
  const buffer = new Uint8Array(100);
  buffer.set(bytes(topic), 7);
  const view = buffer.subarray(7, 7 + bytes(topic).length);
  assert.equal(cachedTopic(view, decode), topic, "found from a view into another buffer");
  assert.equal(decodes, 1);
  buffer[7] = "d".charCodeAt(0);
  assert.equal(cachedTopic(view, decode), `d${topic.slice(1)}`, "the table kept its own copy");
  assert.equal(decodes, 2);
});

test("many distinct topics, long ones and colliding ones all come back right", () => {
  const decode = (raw: Uint8Array) => utf8.decode(raw);
  const topics = Array.from({ length: 2000 }, (_, i) => `t/${i}`);
  topics.push("x".repeat(200), "ü/ñ/€");
  for (let round = 0; round < 2; round++) {
    for (const topic of topics) assert.equal(cachedTopic(bytes(topic), decode), topic);
  }
});

test("what decode refuses is never kept: the next look decodes again", () => {
  let calls = 0;
  const refuse = () => {
    calls++;
    throw new Error("refused");
  };
  const raw = bytes(`refused/${Math.random()}`);
  assert.throws(() => cachedTopic(raw, refuse), /refused/);
  assert.throws(() => cachedTopic(raw, refuse), /refused/);
  assert.equal(calls, 2);
});
