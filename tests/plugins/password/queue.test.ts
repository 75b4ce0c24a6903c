import { test } from "node:test";
import assert from "node:assert/strict";
import { CheckQueue, MAX_PENDING_CHECKS } from "../../../src/plugins/password/queue.ts";

/** A check that waits until the test releases it with an answer. */
function gate(log: string[], name: string) {
  let release: (ok: boolean) => void = () => {};
  const check = () => {
    log.push(`start ${name}`);
    return new Promise<boolean>((resolve) => (release = resolve));
  };
  return { check, release: (ok: boolean) => release(ok) };
}

test("checks run one at a time, in arrival order", async () => {
  const log: string[] = [];
  const queue = new CheckQueue(3);
  const a = gate(log, "a");
  const b = gate(log, "b");
  const first = queue.add(a.check)!;
  const second = queue.add(b.check)!;
  await Promise.resolve();
  assert.deepEqual(log, ["start a"]);
  assert.equal(queue.pending, 2);
  a.release(true);
  assert.equal(await first, true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log, ["start a", "start b"]);
  b.release(false);
  assert.equal(await second, false);
  assert.equal(queue.pending, 0);
});

test("beyond the bound a check is refused at once and never runs", async () => {
  assert.equal(new CheckQueue().limit, MAX_PENDING_CHECKS);
  const log: string[] = [];
  const queue = new CheckQueue(2);
  const a = gate(log, "a");
  const first = queue.add(a.check)!;
  const second = queue.add(() => Promise.resolve(true))!;
  assert.equal(queue.add(() => Promise.resolve(true)), undefined);
  a.release(true);
  assert.deepEqual([await first, await second], [true, true]);
  assert.ok(queue.add(() => Promise.resolve(true)), "room again once they are done");
});

test("a check that throws or rejects is a refusal", async () => {
  const queue = new CheckQueue();
  assert.equal(
    await queue.add(() => {
      throw new Error("boom");
    }),
    false,
  );
  assert.equal(await queue.add(() => Promise.reject(new Error("boom"))), false);
});

test("close refuses the waiting checks, aborts the running one and takes no more", async () => {
  const log: string[] = [];
  const queue = new CheckQueue();
  let signal: AbortSignal | undefined;
  const running = queue.add((s) => {
    signal = s;
    return new Promise<boolean>((resolve) => s.addEventListener("abort", () => resolve(true)));
  })!;
  const waiting = queue.add(gate(log, "never").check)!;
  queue.close();
  assert.equal(signal?.aborted, true);
  assert.deepEqual([await running, await waiting], [false, false], "a late true does not count");
  assert.deepEqual(log, []);
  assert.equal(queue.add(() => Promise.resolve(true)), undefined);
});

test("with a concurrency of two, two checks run at once, in arrival order", async () => {
  const log: string[] = [];
  const queue = new CheckQueue(3, 2);
  const [a, b, c] = ["a", "b", "c"].map((name) => gate(log, name));
  const answers = [queue.add(a.check)!, queue.add(b.check)!, queue.add(c.check)!];
  assert.equal(queue.add(() => Promise.resolve(true)), undefined, "the bound still holds");
  await Promise.resolve();
  assert.deepEqual(log, ["start a", "start b"]);
  b.release(true);
  await answers[1];
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log, ["start a", "start b", "start c"]);
  a.release(false);
  c.release(true);
  assert.deepEqual(await Promise.all(answers), [false, true, true]);
  assert.equal(queue.pending, 0);
});
