import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionList } from "../../src/broker/connection_list.ts";

function member(name: string): { name: string; listIndex: number } {
  return { name, listIndex: -1 };
}

test("ConnectionList: add, delete anywhere, count, and a snapshot that deletes do not change", () => {
  const list = new ConnectionList<ReturnType<typeof member>>();
  const [a, b, c, d] = ["a", "b", "c", "d"].map(member);
  for (const m of [a, b, c, d]) list.add(m);
  list.add(b);
  assert.equal(list.size, 4);
  const before = list.snapshot();
  assert.equal(list.delete(b), true);
  assert.equal(list.delete(b), false);
  assert.equal(b.listIndex, -1);
  assert.equal(list.size, 3);
  assert.deepEqual(before.map((m) => m.name), ["a", "b", "c", "d"]);
  assert.deepEqual(list.snapshot().map((m) => m.name).sort(), ["a", "c", "d"]);
  // The member that took b's place can still be removed, and so can the last one.
  assert.equal(list.delete(d), true);
  assert.equal(list.delete(c), true);
  assert.deepEqual(list.snapshot(), [a]);
  assert.equal(list.delete(member("never added")), false);
  list.add(b);
  assert.deepEqual(list.snapshot().map((m) => m.name).sort(), ["a", "b"]);
});

test("ConnectionList: a member of another list is not taken for one of this list", () => {
  const one = new ConnectionList<ReturnType<typeof member>>();
  const other = new ConnectionList<ReturnType<typeof member>>();
  const a = member("a");
  const b = member("b");
  one.add(a);
  other.add(b);
  assert.equal(one.delete(b), false);
  assert.equal(other.size, 1);
  assert.equal(one.size, 1);
});
