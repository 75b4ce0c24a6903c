import { test } from "node:test";
import assert from "node:assert/strict";
import { Deadlines, type Timed } from "../../src/broker/deadlines.ts";

const TICK = 500;
const KEEPALIVE = 60_000;

/** A connection that is due `KEEPALIVE` after its last read and counts how often it is checked. */
class Idle implements Timed {
  dueBucket = 0;
  dueIndex = 0;
  checks = 0;
  closedAt = 0;
  constructor(public lastRead: number) {}
  checkTimers(now: number): number {
    this.checks++;
    const due = this.lastRead + KEEPALIVE;
    if (now > due) {
      this.closedAt = now;
      return Infinity;
    }
    return due;
  }
}

test("a tick looks only at what is due: idle connections are checked once per keepalive", () => {
  const deadlines = new Deadlines(TICK, 0);
  const idle = Array.from({ length: 10_000 }, () => new Idle(0));
  for (const item of idle) deadlines.schedule(item, KEEPALIVE);
  // A minute of ticks: nothing is due before the keepalive, so nothing is looked at.
  for (let now = TICK; now < KEEPALIVE; now += TICK) deadlines.run(now);
  assert.equal(idle.reduce((total, item) => total + item.checks, 0), 0);
  deadlines.run(KEEPALIVE + TICK);
  assert.ok(idle.every((item) => item.checks === 1 && item.closedAt === KEEPALIVE + TICK));
});

test("reads only stamp the connection: its check reschedules it from the last read", () => {
  const deadlines = new Deadlines(TICK, 0);
  const item = new Idle(0);
  deadlines.schedule(item, KEEPALIVE);
  item.lastRead = 30_000;
  deadlines.run(KEEPALIVE + TICK);
  assert.equal(item.checks, 1);
  assert.equal(item.closedAt, 0, "read 30 s ago: not expired");
  deadlines.run(KEEPALIVE + 30_000 - TICK);
  assert.equal(item.checks, 1, "not looked at again before its new deadline");
  deadlines.run(KEEPALIVE + 30_000 + TICK);
  assert.equal(item.closedAt, KEEPALIVE + 30_000 + TICK);
});

test("an earlier deadline wins over a later one; a late tick runs every missed bucket", () => {
  const deadlines = new Deadlines(TICK, 0);
  const item = new Idle(0);
  deadlines.schedule(item, KEEPALIVE);
  // A write timeout, say: earlier than the keepalive.
  deadlines.schedule(item, 5_000);
  deadlines.schedule(item, 50_000);
  // The clock jumps far past both: checked once, at the earlier entry; the stale one is skipped.
  deadlines.run(10 * KEEPALIVE);
  assert.equal(item.checks, 1);
  assert.equal(item.closedAt, 10 * KEEPALIVE);
  deadlines.run(11 * KEEPALIVE);
  assert.equal(item.checks, 1);
});

test("a cancelled connection is never checked again, and the others of its bucket still are", () => {
  const deadlines = new Deadlines(TICK, 0);
  const items = Array.from({ length: 4 }, () => new Idle(0));
  for (const item of items) deadlines.schedule(item, KEEPALIVE);
  // One moved to an earlier bucket, then cancelled there: neither bucket holds it any more.
  deadlines.schedule(items[3], 5_000);
  deadlines.cancel(items[3]);
  deadlines.cancel(items[0]);
  deadlines.cancel(items[0]);
  deadlines.run(KEEPALIVE + TICK);
  assert.deepEqual(items.map((item) => item.checks), [0, 1, 1, 0]);
  assert.equal(items[1].closedAt, KEEPALIVE + TICK);
});

test("a check that cancels another connection of the running bucket skips it", () => {
  const deadlines = new Deadlines(TICK, 0);
  const victim = new Idle(0);
  const taker = new Idle(0);
  taker.checkTimers = (now) => {
    taker.checks++;
    // As a takeover would: another connection closes during this check.
    deadlines.cancel(victim);
    return now + KEEPALIVE;
  };
  deadlines.schedule(taker, 1_000);
  deadlines.schedule(victim, 1_000);
  deadlines.run(1_000 + TICK);
  assert.equal(taker.checks, 1);
  assert.equal(victim.checks, 0);
});
