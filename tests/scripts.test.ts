import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const tsx = join(root, "node_modules", ".bin", "tsx");

test("every script that takes options prints its doc comment for --help and exits 0", async () => {
  const scripts = readdirSync(join(root, "scripts"))
    .filter((name) => name.endsWith(".ts"))
    .filter((name) => readFileSync(join(root, "scripts", name), "utf8").includes("parseArgs("));
  assert.ok(scripts.length >= 8, scripts.join(", "));
  await Promise.all(scripts.map((name) =>
    new Promise<void>((resolve, reject) => {
      execFile(
        tsx,
        [join("scripts", name), "--help"],
        { cwd: root, timeout: 60_000 },
        (error, stdout) => {
          try {
            assert.equal(error, null, `${name}: ${error?.message}`);
            const first = /^\/\*\*\n \* (.*)$/m.exec(
              readFileSync(join(root, "scripts", name), "utf8"),
            )?.[1];
            assert.ok(first, `${name} has a doc comment`);
            assert.ok(
              stdout.includes(first),
              `${name} printed ${JSON.stringify(stdout.slice(0, 200))}`,
            );
            resolve();
          } catch (failure) {
            reject(failure);
          }
        },
      );
    })
  ));
});
