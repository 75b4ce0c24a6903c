import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  filterCovers,
  topicFilterError,
  topicMatches,
  topicNameError,
} from "../../src/protocol/topic.ts";

describe("topic names", () => {
  test("valid names pass", () => {
    for (const t of ["a", "a/b", "/", "a//b", "$SYS/x", " "]) {
      assert.equal(topicNameError(t), undefined);
    }
  });
  test("empty, wildcards and U+0000 are refused", () => {
    assert.match(topicNameError("")!, /empty/);
    assert.match(topicNameError("a/+")!, /wildcard/);
    assert.match(topicNameError("a/#")!, /wildcard/);
    assert.match(topicNameError("a+b")!, /wildcard/);
    assert.match(topicNameError("a\u0000b")!, /U\+0000/);
  });
});

describe("topic filters", () => {
  test("valid filters pass", () => {
    for (const f of ["#", "+", "a/#", "+/+", "a/+/b", "/", "+/", "$SYS/#"]) {
      assert.equal(topicFilterError(f), undefined, f);
    }
  });
  test("misplaced wildcards are refused, level by level", () => {
    for (const f of ["a#", "a/#/b", "#/a", "a+/b", "a/b+", "++", "a/+b"]) {
      assert.notEqual(topicFilterError(f), undefined, f);
    }
    assert.match(topicFilterError("")!, /empty/);
  });
});

describe("matching", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "a/b", true],
    ["a/+", "a/b", true],
    ["a/+", "a/b/c", false],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["#", "a/b", true],
    ["+/+", "/x", true],
    ["+", "/x", false],
    ["#", "$SYS/x", false],
    ["+/x", "$SYS/x", false],
    ["$SYS/#", "$SYS/x", true],
    ["a/b", "a/c", false],
  ];
  for (const [filter, topic, expected] of cases) {
    test(`${filter} ${expected ? "matches" : "does not match"} ${topic}`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});

describe("filter coverage", () => {
  test("a wider allowed filter covers narrower ones, never the reverse", () => {
    assert.equal(filterCovers("calendar/#", "calendar/+/x"), true);
    assert.equal(filterCovers("calendar/#", "calendar"), true);
    assert.equal(filterCovers("calendar/#", "#"), false);
    assert.equal(filterCovers("a/+", "a/#"), false);
    assert.equal(filterCovers("a/+", "a/b"), true);
    assert.equal(filterCovers("#", "$SYS/x"), false);
    assert.equal(filterCovers("$SYS/#", "$SYS/broker/uptime"), true);
  });
});
