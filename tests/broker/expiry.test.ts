import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ExpiryQueue } from "../../src/broker/expiry.ts";

function drain(queue: ExpiryQueue<string>, now: number): string[] {
  const out: string[] = [];
  let item: string | undefined;
  while ((item = queue.pop(now)) !== undefined) out.push(item);
  return out;
}

describe("ExpiryQueue", () => {
  test("pops what is due, soonest first, and nothing that is not", () => {
    const queue = new ExpiryQueue<string>();
    for (const [item, at] of [["c", 30], ["a", 10], ["e", 50], ["b", 20], ["d", 40]] as const) {
      queue.set(item, at);
    }
    assert.equal(queue.pop(5), undefined);
    assert.deepEqual(drain(queue, 30), ["a", "b", "c"]);
    assert.equal(queue.size, 2);
    assert.deepEqual(drain(queue, 100), ["d", "e"]);
  });

  test("setting again moves a deadline; delete clears it; each item is held once", () => {
    const queue = new ExpiryQueue<string>();
    for (let i = 0; i < 20; i++) queue.set(`s${i}`, 100 + i);
    queue.set("s0", 500);
    queue.set("s19", 1);
    queue.delete("s5");
    queue.delete("s5");
    queue.delete("unknown");
    assert.equal(queue.size, 19);
    const order = drain(queue, 1000);
    assert.equal(order[0], "s19");
    assert.equal(order.at(-1), "s0");
    assert.equal(order.includes("s5"), false);
    assert.deepEqual(
      order.slice(1, -1),
      Array.from({ length: 18 }, (_, i) => `s${i + 1}`).filter((s) => s !== "s5"),
    );
  });

  test("random operations keep heap order", () => {
    const queue = new ExpiryQueue<number>();
    const deadlines = new Map<number, number>();
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let step = 0; step < 2000; step++) {
      const item = Math.floor(random() * 200);
      if (random() < 0.3) {
        queue.delete(item);
        deadlines.delete(item);
      } else {
        const at = Math.floor(random() * 10000);
        queue.set(item, at);
        deadlines.set(item, at);
      }
    }
    assert.equal(queue.size, deadlines.size);
    let last = -1;
    let item: number | undefined;
    while ((item = queue.pop(Infinity)) !== undefined) {
      const at = deadlines.get(item)!;
      assert.ok(at >= last, "popped out of order");
      last = at;
      deadlines.delete(item);
    }
    assert.equal(deadlines.size, 0);
  });
});
