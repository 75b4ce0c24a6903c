import { test } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runStore } from "../../src/store/command.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.ts";

function folder(): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), "store-command-"));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(args: string[]): { code: number; out: string; err: string } {
  let out = "";
  let err = "";
  const code = runStore(args, { out: (l) => out += l + "\n", err: (l) => err += l + "\n" });
  return { code, out, err };
}

/** The folder's files and a digest of their bytes. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const bytes = readFileSync(join(dir, name));
    files[name] = `${bytes.length} ${createHash("sha256").update(bytes).digest("hex")}`;
  }
  return files;
}

const session = (clientId: string) => ({
  clientId,
  username: undefined,
  protocolVersion: 4,
  expiryMs: Infinity,
  expiresAt: 0,
});

test("broker store FILE reads a closed store without changing or adding a file", async () => {
  using f = folder();
  const file = join(f.dir, "b.db");
  const store = openSqliteStore(file, "normal");
  store.sessionSaved(session("c1"));
  await store.commit();
  await store.close();
  const before = snapshot(f.dir);
  const { code, out, err } = run([file]);
  assert.equal(code, 0, err);
  assert.match(out, /sessions\s+1/);
  assert.deepEqual(snapshot(f.dir), before);
});

test("broker store FILE reads a store a running broker holds open, WAL included, changing nothing", async () => {
  using f = folder();
  const file = join(f.dir, "b.db");
  const store = openSqliteStore(file, "normal");
  try {
    store.sessionSaved(session("c1"));
    store.sessionSaved(session("c2"));
    await store.commit();
    // FILE-shm holds the readers' marks, which any reader changes: the data is in the others.
    const data = () => {
      const { "b.db-shm": _marks, ...rest } = snapshot(f.dir);
      return rest;
    };
    const before = data();
    const { code, out, err } = run([file]);
    assert.equal(code, 0, err);
    assert.match(out, /sessions\s+2/);
    assert.deepEqual(data(), before);
  } finally {
    await store.close();
  }
});

test("broker store FILE of a missing file is an error naming it, and creates nothing", () => {
  using f = folder();
  const file = join(f.dir, "none.db");
  const { code, err } = run([file]);
  assert.equal(code, 2);
  assert.match(err, new RegExp(`${file.replace(/[\\.]/g, "\\$&")} does not exist`));
  assert.deepEqual(readdirSync(f.dir), []);
});

test("broker store --help prints the usage and exits 0; no FILE is a usage error", () => {
  const help = run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: broker store FILE/);
  const none = run([]);
  assert.equal(none.code, 2);
  assert.match(none.err, /usage: broker store FILE/);
});
