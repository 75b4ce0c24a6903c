import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerCore } from "../../src/broker/core.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { eventually, memoryLogger } from "../helpers/broker.ts";
import { storedSession, storeWithCommit } from "../helpers/store.ts";

/**
 * A core over a SQLite store whose `awaitingAck` answers from `answers` (the last one again once
 * they run out), counting how often it was asked and how many commits started.
 */
async function setup(answers: number[]) {
  const dir = mkdtempSync(join(tmpdir(), "commit-wait-"));
  const file = join(dir, "b.db");
  const seen = { asked: 0, commits: 0 };
  const store = storeWithCommit(file, (inner) => {
    seen.commits++;
    return inner.commit();
  });
  Object.defineProperty(store, "awaitingAck", {
    get: () => answers[Math.min(seen.asked++, answers.length - 1)],
  });
  const config = await resolveConfig({
    listeners: { default: { bind: "127.0.0.1:0" } },
    persistence: { path: file, sync: "normal" },
  }, { baseDir: dir });
  const core = new BrokerCore(config, memoryLogger(), store);
  return {
    seen,
    /** A record, which schedules a commit. */
    record: () => store.sessionSaved(storedSession("c")),
    async [Symbol.asyncDispose]() {
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("group commit and acknowledgements", () => {
  test("a batch that sent nothing awaiting acknowledgement commits at once", async () => {
    await using s = await setup([0]);
    s.record();
    await eventually(() => s.seen.commits === 1);
    assert.equal(s.seen.asked, 1);
  });

  test("acknowledgements that do not come hold the commit two turns only", async () => {
    await using s = await setup([20]);
    s.record();
    await eventually(() => s.seen.commits === 1);
    assert.equal(s.seen.asked, 3, "two turns waited, then it commits");
  });

  test("acknowledgements that keep coming hold it four turns at most", async () => {
    await using s = await setup([20, 16, 12, 8, 4, 2, 1]);
    s.record();
    await eventually(() => s.seen.commits === 1);
    assert.equal(s.seen.asked, 5, "four turns waited, then it commits");
  });

  test("it commits as soon as the last acknowledgement came", async () => {
    await using s = await setup([20, 10, 0]);
    s.record();
    await eventually(() => s.seen.commits === 1);
    assert.equal(s.seen.asked, 3);
    s.record();
    await eventually(() => s.seen.commits === 2);
    assert.equal(s.seen.asked, 4, "the next batch, with 0 awaiting, is asked once");
  });
});
