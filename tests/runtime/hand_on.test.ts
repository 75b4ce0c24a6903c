import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { HandOn } from "../../src/runtime/hand_on.ts";
import { eventually } from "../helpers/broker.ts";

/** Busy for `ms`, as setting a connection up is. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("connections that come apart, each a round trip after the last, are handed on at once", async () => {
  const handedOn: number[] = [];
  let last = 0;
  const handOn = new HandOn<number>((n) => {
    handedOn.push(n);
    last = performance.now();
  });
  // Half a millisecond apart for several slices' worth: none waits for a later slice.
  for (let n = 0; n < 12; n++) {
    await nextTurn();
    while (performance.now() - last < 0.5) await nextTurn();
    handOn.offer(n);
    assert.deepEqual(handedOn.length, n + 1, `connection ${n} was handed on at once`);
  }
  handOn.close();
});

test("a burst past its slice waits for later slices, in arrival order", async () => {
  const handedOn: number[] = [];
  const handOn = new HandOn<number>((n) => {
    handedOn.push(n);
    spin(0.3);
  });
  for (let n = 0; n < 10; n++) handOn.offer(n);
  assert.ok(handedOn.length >= 1 && handedOn.length < 10, "only the first slice's share at once");
  await eventually(() => handedOn.length === 10);
  assert.deepEqual(handedOn, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  handOn.close();
});
