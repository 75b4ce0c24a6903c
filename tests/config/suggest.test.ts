import { test } from "node:test";
import assert from "node:assert/strict";
import { closest, editDistance } from "../../src/config/suggest.ts";

test("edit distance counts insertions, deletions, substitutions and swaps", () => {
  assert.equal(editDistance("", ""), 0);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("max-conections", "max-connections"), 1);
  assert.equal(editDistance("bind", "bnid"), 1);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

test("closest forgives case, _ - and . and suggests only likely typos", () => {
  const keys = ["bind", "max-connections", "type", "ssl", "sys_interval"];
  assert.equal(closest("max_connections", keys), "max-connections");
  assert.equal(closest("MAX-CONNECTIONS", keys), "max-connections");
  assert.equal(closest("sys-interval", keys), "sys_interval");
  assert.equal(closest("max-conections", keys), "max-connections");
  assert.equal(closest("bnid", keys), "bind");
  assert.equal(closest("sl", keys), "ssl");
  assert.equal(closest("port", keys), undefined);
  assert.equal(closest("xyz", keys), undefined);
});
