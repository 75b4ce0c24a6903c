import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchRows } from "../../src/store/sqlite/batch_rows.ts";

/** Every row as `clientId:seq=row`, in the order visited. */
function listed(rows: BatchRows<string>): string[] {
  const out: string[] = [];
  rows.forEach((row, clientId, seq) => out.push(`${clientId}:${seq}=${row}`));
  return out;
}

test("rows are taken by session and seq, in a run, before it and far beyond it", () => {
  const rows = new BatchRows<string>();
  for (let seq = 10; seq < 15; seq++) rows.put("a", seq, `a${seq}`);
  rows.put("b", 3, "b3");
  rows.put("a", 7, "a7");
  rows.put("a", 5000, "a5000");
  rows.put("a", 17, "a17");
  assert.equal(rows.take("a", 12), "a12");
  assert.equal(rows.take("a", 12), undefined, "taken once");
  assert.equal(rows.take("a", 16), undefined, "a hole in the run");
  assert.equal(rows.take("a", 3), undefined, "another session's seq");
  assert.equal(rows.take("c", 3), undefined, "no such session");
  assert.equal(rows.take("a", 7), "a7");
  rows.put("a", 12, "again");
  assert.deepEqual(listed(rows), [
    "a:10=a10",
    "a:11=a11",
    "a:12=again",
    "a:13=a13",
    "a:14=a14",
    "a:17=a17",
    "a:5000=a5000",
    "b:3=b3",
  ]);
  assert.equal(rows.take("a", 5000), "a5000");
});

test("a session's rows are taken out together; clear empties everything", () => {
  const rows = new BatchRows<string>();
  rows.put("a", 1, "a1");
  rows.put("a", 2, "a2");
  rows.put("a", 0, "a0");
  rows.put("b", 1, "b1");
  const taken: string[] = [];
  rows.takeSession("a", (row) => taken.push(row));
  assert.deepEqual(taken, ["a1", "a2", "a0"]);
  assert.deepEqual(listed(rows), ["b:1=b1"]);
  rows.takeSession("a", () => assert.fail("nothing is left of a"));
  // A new run of the same client id starts where its seqs start now.
  rows.put("a", 1, "new");
  assert.equal(rows.take("a", 1), "new");
  rows.clear();
  assert.deepEqual(listed(rows), []);
});
