import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePasswordFile, PasswordFileError } from "../../../src/plugins/password/mod.ts";

const ALICE =
  "$7$101$TBMjtGgpMmkr2ZX/$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6+rMeOKbPbAd0FIWEVUM7EmHCBXdlE7IvdUIcqiSwn8Q==";
const BOB = "$5$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi.";

test("reads user:hash lines, skipping comments and blank lines", () => {
  const users = parsePasswordFile(
    `# users\n\nalice:${ALICE}\r\n  # indented comment\nbob:${BOB}\n`,
  );
  assert.deepEqual([...users], [["alice", ALICE], ["bob", BOB]]);
  assert.equal(parsePasswordFile("").size, 0);
});

test("errors name the source and the line", () => {
  const cases: [text: string, line: number, pattern: RegExp][] = [
    [`alice:${ALICE}\nbob\n`, 2, /expected user:hash/],
    [`# x\n:${ALICE}`, 2, /empty user name/],
    [`\n\n\ncarol:plaintext`, 4, /carol.*no hash/],
    [`alice:${ALICE}\nalice:${BOB}`, 2, /already on line 1/],
    [`dave:${ALICE.replace("$101$", "$10000001$")}`, 1, /dave.*10000001 iterations.*broker passwd/],
  ];
  for (const [text, line, pattern] of cases) {
    assert.throws(
      () => parsePasswordFile(text, "pw.txt"),
      (e: unknown) => {
        assert.ok(e instanceof PasswordFileError);
        assert.equal(e.line, line);
        assert.match(e.message, new RegExp(`^pw\\.txt, line ${line}: `));
        assert.match(e.message, pattern);
        return true;
      },
    );
  }
});
