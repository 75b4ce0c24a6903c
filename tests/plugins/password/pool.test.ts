import { test } from "node:test";
import assert from "node:assert/strict";
import { pbkdf2Sync } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { IN_THREAD } from "../../../src/plugins/password/hasher.ts";
import { HASH_NICE, HashPool } from "../../../src/plugins/password/pool.ts";
import { shaCrypt, shaCryptInput } from "../../../src/plugins/password/sha_crypt.ts";

const salt = new Uint8Array(12).fill(7);
const password = new TextEncoder().encode("secret");

test("the pool computes what the thread computes, and starts threads only when needed", async () => {
  const pool = new HashPool({ size: 2 });
  try {
    assert.equal(pool.threads, 0, "no thread before the first job");
    for (const digest of ["sha256", "sha512"] as const) {
      assert.deepEqual(
        await pool.pbkdf2(password, salt, 101, 64, digest),
        new Uint8Array(pbkdf2Sync(password, salt, 101, 64, digest)),
      );
    }
    const setting = "$6$rounds=1000$saltstring";
    const input = shaCryptInput(password, setting);
    const digest = await pool.shaCrypt(input.algorithm, input.key, input.salt, input.rounds);
    assert.equal(input.format(digest), shaCrypt(password, setting));
    const local = await IN_THREAD.shaCrypt(input.algorithm, input.key, input.salt, input.rounds);
    assert.deepEqual(digest, local);
    const many = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pool.pbkdf2(password, salt, 50 + i, 32, "sha512")),
    );
    assert.deepEqual(
      many,
      many.map((_, i) => new Uint8Array(pbkdf2Sync(password, salt, 50 + i, 32, "sha512"))),
    );
    assert.ok(pool.threads >= 1 && pool.threads <= 2, `${pool.threads} threads`);
  } finally {
    await pool.close();
  }
});

/** The nice value of every thread of this process, from /proc (Linux keeps one per thread). */
function threadNices(): number[] {
  return readdirSync("/proc/self/task").flatMap((tid) => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    } catch {
      // A thread that ended since the listing (a runtime's own, or a terminated worker's).
      return [];
    }
    // Fields after the command name: state is the 3rd field of stat, nice the 19th.
    return [Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16])];
  });
}

test(
  "hashing threads yield to the event loop: a lower priority, the rest of the process unchanged",
  {
    skip: process.platform !== "linux" && "nice values are per thread only on Linux",
  },
  async () => {
    const before = threadNices();
    const pool = new HashPool({ size: 1 });
    try {
      await pool.pbkdf2(password, salt, 101, 64, "sha512");
      const after = threadNices();
      assert.ok(after.includes(HASH_NICE), `nice values ${after}`);
      assert.equal(after[0], before[0], "the main thread keeps its priority");
    } finally {
      await pool.close();
    }
  },
);

test("a job the worker rejects is an error and the worker stays", async () => {
  const pool = new HashPool({ size: 1 });
  try {
    await assert.rejects(pool.pbkdf2(password, salt, -1, 64, "sha512"));
    assert.equal(pool.threads, 1);
    assert.equal((await pool.pbkdf2(password, salt, 1, 16, "sha512")).length, 16);
  } finally {
    await pool.close();
  }
});

test("a job that overruns its time fails, and a fresh worker takes the next one", async () => {
  const pool = new HashPool({ size: 1, timeoutMs: 1000 });
  try {
    // Hours of SHA-crypt rounds (script, unlike PBKDF2's one native call, which a terminate
    // cannot interrupt): only terminating the worker ends them.
    await assert.rejects(pool.shaCrypt("sha512", password, salt, 999_999_999), /took over/);
    assert.equal((await pool.pbkdf2(password, salt, 1, 16, "sha512")).length, 16);
    assert.equal(pool.threads, 1);
  } finally {
    await pool.close();
  }
});

test("a job crosses to the worker as a string and its digest comes back as one", async () => {
  // Deno clones typed arrays several times slower than strings: neither side may send one.
  // The reply is one result: status 0, length 2, the digest's two bytes.
  const source = `(async () => {
    const { parentPort } = await import("node:worker_threads");
    parentPort.on("message", (job) => {
      parentPort.postMessage(
        typeof job === "string" ? "\\u0000\\u0000\\u0000\\u0000\\u0002\\u0001\\u00ff" : { error: typeof job },
      );
    });
    parentPort.postMessage("ready");
  })();`;
  const pool = new HashPool({ size: 1, source });
  try {
    assert.deepEqual(await pool.pbkdf2(password, salt, 1, 2, "sha512"), new Uint8Array([1, 255]));
  } finally {
    await pool.close();
  }
});

/**
 * A worker that answers each job of a batch with one byte: the number of the message that
 * brought it (jobs are parsed as the real worker does: 20 header bytes, then the password and
 * the salt whose lengths the header holds at offsets 12 and 16).
 */
const COUNTING_WORKER = `(async () => {
  const { parentPort } = await import("node:worker_threads");
  const { Buffer } = await import("node:buffer");
  let messages = 0;
  parentPort.on("message", (text) => {
    messages++;
    const batch = Buffer.from(text, "latin1");
    let reply = "";
    for (let at = 0; at < batch.length;) {
      at += 20 + batch.readUInt32BE(at + 12) + batch.readUInt32BE(at + 16);
      reply += "\\u0000\\u0000\\u0000\\u0000\\u0001" + String.fromCharCode(messages);
    }
    parentPort.postMessage(reply);
  });
  parentPort.postMessage("ready");
})();`;

test("jobs of one turn cross in a few batches, each answered by one reply", async () => {
  const pool = new HashPool({ size: 1, source: COUNTING_WORKER });
  try {
    assert.deepEqual(await pool.pbkdf2(password, salt, 101, 64, "sha512"), new Uint8Array([1]));
    const jobs = Array.from({ length: 100 }, () => pool.pbkdf2(password, salt, 101, 64, "sha512"));
    const messages = new Set((await Promise.all(jobs)).map((digest) => digest[0]));
    // A batch for the job the worker runs and one for its inbox.
    assert.deepEqual([...messages], [2, 3]);
  } finally {
    await pool.close();
  }
});

test("a reply with fewer results than its batch has jobs fails the jobs left over", async () => {
  // One result (a digest of one byte) for whatever came, and a truncated second one.
  const source = `(async () => {
    const { parentPort } = await import("node:worker_threads");
    parentPort.on("message", () => parentPort.postMessage("\\u0000\\u0000\\u0000\\u0000\\u0001\\u0007\\u0000\\u0000"));
    parentPort.postMessage("ready");
  })();`;
  const pool = new HashPool({ size: 1, source });
  try {
    assert.deepEqual(await pool.pbkdf2(password, salt, 1, 1, "sha512"), new Uint8Array([7]));
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => pool.pbkdf2(password, salt, n, 1, "sha512"));
    const results = await Promise.allSettled(jobs);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
      "rejected",
      "rejected",
    ]);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /fewer results/);
  } finally {
    await pool.close();
  }
});

test("a job of a batch that throws fails alone", async () => {
  const pool = new HashPool({ size: 1 });
  try {
    const results = await Promise.allSettled([
      pool.pbkdf2(password, salt, 1, 16, "sha512"),
      pool.pbkdf2(password, salt, -1, 16, "sha512"),
      pool.pbkdf2(password, salt, 2, 16, "sha512"),
    ]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.deepEqual(
      (results[2] as PromiseFulfilledResult<Uint8Array>).value,
      new Uint8Array(pbkdf2Sync(password, salt, 2, 16, "sha512")),
    );
  } finally {
    await pool.close();
  }
});

test("a worker that dies fails its job and is replaced", async () => {
  // Exits at its first job and answers the second: each job gets a new worker.
  const source = `(async () => {
    const { parentPort } = await import("node:worker_threads");
    parentPort.on("message", () => process.exit(3));
    parentPort.postMessage("ready");
  })();`;
  const pool = new HashPool({ size: 1, source });
  try {
    await assert.rejects(pool.pbkdf2(password, salt, 1, 16, "sha512"), /exited|exit/);
    await assert.rejects(pool.pbkdf2(password, salt, 1, 16, "sha512"), /exited|exit/);
    assert.ok(pool.threads <= 1);
  } finally {
    await pool.close();
  }
});

test("a worker that cannot start fails the waiting jobs instead of restarting for ever", async () => {
  const pool = new HashPool({ size: 2, source: "throw new Error('broken worker')" });
  try {
    const jobs = [1, 2, 3].map((n) => pool.pbkdf2(password, salt, n, 16, "sha512"));
    const results = await Promise.allSettled(jobs);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "rejected"]);
  } finally {
    await pool.close();
  }
  assert.equal(pool.threads, 0);
});

test("close fails waiting and running jobs, ends every thread and takes no more", async () => {
  const pool = new HashPool({ size: 2 });
  await pool.pbkdf2(password, salt, 1, 16, "sha512");
  const jobs = Array.from(
    { length: 4 },
    () => pool.shaCrypt("sha512", password, salt, 999_999_999),
  );
  const settled = Promise.allSettled(jobs);
  await pool.close();
  for (const result of await settled) {
    assert.equal(result.status, "rejected");
    assert.match(String((result as PromiseRejectedResult).reason), /closed/);
  }
  assert.equal(pool.threads, 0);
  await assert.rejects(pool.pbkdf2(password, salt, 1, 16, "sha512"), /closed/);
});
