import { test } from "node:test";
import assert from "node:assert/strict";
import { RefCounts } from "../../src/store/sqlite/refs.ts";

test("reference counts read at load and made later both count down to their last", () => {
  const refs = new RefCounts();
  // More than the first buffer holds, out of order, with repeats.
  for (let i = 3000; i > 0; i--) refs.read(i % 1500 + 1);
  assert.equal(refs.has(1), true);
  assert.equal(refs.drop(1), 1);
  refs.add(1);
  assert.equal(refs.drop(1), 1);
  assert.equal(refs.drop(1), 0);
  assert.equal(refs.has(1), false);
  assert.equal(refs.drop(1), -1, "nothing left to drop");
  refs.add(9000);
  refs.add(9000);
  assert.equal(refs.drop(9000), 1);
  assert.equal(refs.drop(9000), 0);
  assert.equal(refs.has(9000), false);
  assert.equal(refs.drop(9000), -1);
  assert.equal(refs.drop(1501), -1, "never counted");
  assert.equal(refs.has(1500), true);
  // A later load's references add to what is counted.
  refs.read(1500);
  refs.read(20000);
  assert.equal(refs.drop(1500), 2);
  assert.equal(refs.drop(20000), 0);
});

test("a reference made before a load and one read by it count together", () => {
  const refs = new RefCounts();
  refs.add(7);
  refs.read(7);
  assert.equal(refs.drop(7), 1);
  assert.equal(refs.drop(7), 0);
  assert.equal(refs.drop(7), -1);
});

test("references added in a run to one id, then to others, all count", () => {
  const refs = new RefCounts();
  for (let i = 0; i < 20; i++) refs.add(5);
  assert.equal(refs.has(5), true);
  refs.add(6);
  for (let i = 0; i < 3; i++) refs.add(5);
  refs.read(6);
  assert.equal(refs.drop(6), 1, "added once beside the run, read once");
  for (let left = 22; left >= 0; left--) assert.equal(refs.drop(5), left);
  assert.equal(refs.has(5), false);
  assert.equal(refs.drop(5), -1);
  refs.add(6);
  refs.add(6);
  assert.equal(refs.drop(6), 2, "a run on an id read at load adds to its count");
});
