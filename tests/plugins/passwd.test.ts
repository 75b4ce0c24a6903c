import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PasswdIo, runPasswd } from "../../src/passwd.ts";
import { parsePasswordFile, verifyPassword } from "../../src/plugins/password/mod.ts";
import { parseScramEntry, verifyPlainAgainstScram } from "../../src/plugins/password/scram.ts";

interface Captured extends PasswdIo {
  outLines: string[];
  errLines: string[];
  prompts: string[];
}

function io(answers: string[] = []): Captured {
  const captured: Captured = {
    outLines: [],
    errLines: [],
    prompts: [],
    out: (line) => void captured.outLines.push(line),
    err: (line) => void captured.errLines.push(line),
    readPassword(prompt) {
      captured.prompts.push(prompt);
      const answer = answers.shift();
      return answer === undefined
        ? Promise.reject(new Error("no answer"))
        : Promise.resolve(answer);
    },
  };
  return captured;
}

async function inTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "broker-passwd-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const BOB = "$5$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi.";

test("-c creates the file; later runs add and update users, keeping other lines", async () => {
  await inTemp(async (dir) => {
    const file = join(dir, "passwd");
    assert.equal(await runPasswd(["-c", file, "alice", "--password", "one"], io()), 0);
    let users = parsePasswordFile(await readFile(file, "utf8"));
    assert.match(users.get("alice") ?? "", /^\$7\$101\$/);
    assert.ok(await verifyPassword("one", users.get("alice") ?? ""));

    await writeFile(file, `# managed by hand\n${await readFile(file, "utf8")}\nbob:${BOB}\n`);
    const add = io(["two", "two"]);
    assert.equal(await runPasswd([file, "carol"], add), 0);
    assert.deepEqual(add.prompts, ["Password: ", "Reenter password: "]);
    assert.deepEqual(add.outLines, ["added user carol"]);

    const update = io();
    assert.equal(await runPasswd([file, "alice", "--password", "three"], update), 0);
    assert.deepEqual(update.outLines, ["updated user alice"]);
    assert.equal(await runPasswd(["-b", file, "dave", "four"], io()), 0);

    const text = await readFile(file, "utf8");
    const lines = text.split("\n");
    assert.equal(lines[0], "# managed by hand");
    assert.match(lines[1], /^alice:\$7\$/);
    assert.equal(lines[2], "");
    assert.equal(lines[3], `bob:${BOB}`);
    assert.match(lines[4], /^carol:/);
    assert.match(lines[5], /^dave:/);
    users = parsePasswordFile(text);
    assert.ok(await verifyPassword("three", users.get("alice") ?? ""));
    assert.ok(!await verifyPassword("one", users.get("alice") ?? ""));
    assert.ok(await verifyPassword("two", users.get("carol") ?? ""));
    assert.ok(await verifyPassword("four", users.get("dave") ?? ""));
  });
});

test("-D deletes a user and only that user", async () => {
  await inTemp(async (dir) => {
    const file = join(dir, "passwd");
    await writeFile(file, `# keep\r\nbob:${BOB}\r\nalice:${BOB}\r\n`);
    assert.equal(await runPasswd(["-D", file, "bob"], io()), 0);
    assert.equal(await readFile(file, "utf8"), `# keep\r\nalice:${BOB}\r\n`);

    const missing = io();
    assert.equal(await runPasswd(["-D", file, "bob"], missing), 1);
    assert.match(missing.errLines[0], /user bob is not in/);
  });
});

test("-c overwrites an existing file", async () => {
  await inTemp(async (dir) => {
    const file = join(dir, "passwd");
    await writeFile(file, `bob:${BOB}\n`);
    assert.equal(await runPasswd(["-c", file, "alice", "--password", "x"], io()), 0);
    assert.deepEqual([...parsePasswordFile(await readFile(file, "utf8")).keys()], ["alice"]);
  });
});

test("--scram writes SCRAM-SHA-256 entries beside the other users' hashes", async () => {
  await inTemp(async (dir) => {
    const file = join(dir, "passwd");
    await writeFile(file, `# mixed\nbob:${BOB}\n`);
    assert.equal(await runPasswd([file, "alice", "--password", "wonderland", "--scram"], io()), 0);
    assert.equal(await runPasswd(["-b", "--scram", file, "carol", "s\u00E9same"], io()), 0);
    const lines = (await readFile(file, "utf8")).split("\n");
    assert.deepEqual(lines.slice(0, 2), ["# mixed", `bob:${BOB}`]);
    assert.equal(lines[4], "");
    const entry = (user: string) =>
      lines.find((l) => l.startsWith(`${user}:`))?.slice(user.length + 1) ?? "";
    assert.equal(parseScramEntry(entry("alice")).iterations, 4096);
    assert.ok(await verifyPlainAgainstScram("wonderland", entry("alice")));
    assert.ok(!(await verifyPlainAgainstScram("wonderlan", entry("alice"))));
    assert.ok(await verifyPlainAgainstScram("s\u00E9same", entry("carol")));

    // Without --scram the user goes back to $7$, in place.
    assert.equal(await runPasswd([file, "alice", "--password", "again"], io()), 0);
    const after = (await readFile(file, "utf8")).split("\n");
    assert.match(after[2], /^alice:\$7\$/);
    assert.match(after[3], /^carol:\$scram-sha-256\$/);

    const bad = io();
    assert.equal(await runPasswd([file, "dave", "--password", "bell\u0007", "--scram"], bad), 1);
    assert.match(bad.errLines[0], /password contains U\+0007, which SASLprep/);
    const both = io();
    assert.equal(await runPasswd(["-D", "--scram", file, "carol"], both), 1);
    assert.match(both.errLines[0], /-D and --scram cannot be used together/);
    assert.doesNotMatch(await readFile(file, "utf8"), /dave/);
  });
});

test("mistakes are reported and change nothing", async () => {
  await inTemp(async (dir) => {
    const file = join(dir, "passwd");
    const cases: [args: string[], pattern: RegExp, answers?: string[]][] = [
      [[file, "alice", "--password", "x"], /does not exist \(use -c/],
      [["-c", "-D", file, "alice"], /cannot be used together/],
      [["-c", file], /expected FILE USER/],
      [["-c", file, "a:b", "--password", "x"], /no ':'/],
      [["-c", file, "alice", "--bogus"], /bogus/],
      [["-c", file, "alice"], /passwords do not match/, ["one", "two"]],
    ];
    for (const [args, pattern, answers] of cases) {
      const captured = io(answers);
      assert.equal(await runPasswd(args, captured), 1, args.join(" "));
      assert.match(captured.errLines.join("\n"), pattern);
    }
    await assert.rejects(readFile(file), /ENOENT/);
  });
});
