import { test } from "node:test";
import assert from "node:assert/strict";
import { Fifo } from "../../src/broker/fifo.ts";

test("Fifo: order, unshift, peek, extract and compaction past many shifts", () => {
  const fifo = new Fifo<number>();
  for (let i = 0; i < 3000; i++) fifo.push(i);
  for (let i = 0; i < 2000; i++) assert.equal(fifo.shift(), i);
  assert.equal(fifo.length, 1000);
  fifo.unshift(1999);
  assert.equal(fifo.peek(), 1999);
  assert.deepEqual(fifo.extract((n) => n % 500 === 0), [2000, 2500]);
  assert.equal(fifo.length, 999);
  assert.equal(fifo.shift(), 1999);
  assert.equal(fifo.shift(), 2001);
  fifo.clear();
  assert.equal(fifo.length, 0);
  assert.equal(fifo.shift(), undefined);
  fifo.unshift(7);
  assert.equal(fifo.shift(), 7);
});

test("Fifo: queues that were empty or drained share no items", () => {
  const a = new Fifo<number>();
  const b = new Fifo<number>();
  a.push(1);
  assert.equal(a.shift(), 1);
  a.unshift(2);
  b.push(3);
  a.push(4);
  assert.deepEqual([...a], [2, 4]);
  assert.deepEqual([...b], [3]);
  assert.deepEqual(b.extract(() => true), [3]);
  a.clear();
  b.unshift(5);
  a.push(6);
  assert.deepEqual([...a], [6]);
  assert.deepEqual([...b], [5]);
  assert.deepEqual([...new Fifo<number>()], []);
});
