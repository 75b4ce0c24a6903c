import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveConfig } from "../../src/config/resolve.ts";
import { validateConfig } from "../../src/config/validate.ts";

test("persistence: path resolves against the config folder, sync defaults to full", async () => {
  const config = await resolveConfig({ persistence: { path: "data/b.db" } }, { baseDir: "/etc/x" });
  assert.deepEqual(config.persistence, { path: join("/etc/x", "data/b.db"), sync: "full" });
  assert.equal((await resolveConfig({})).persistence, undefined);
  const normal = await resolveConfig({ persistence: { path: "/b.db", sync: "normal" } });
  assert.equal(normal.persistence?.sync, "normal");
});

test("persistence: bad values are problems naming the key, the value and the fix", () => {
  const problems = (input: unknown) => validateConfig({ persistence: input }).problems;
  assert.match(problems({ sync: "full" }).join("\n"), /^persistence: no path/m);
  assert.match(
    problems({ path: "b.db", sync: "always" }).join("\n"),
    /persistence\.sync.*always.*full or normal/,
  );
  assert.match(problems({ path: 3 }).join("\n"), /persistence\.path/);
  assert.match(problems({ path: "b.db", syncc: "full" }).join("\n"), /persistence\.syncc.*unknown/);
  assert.match(problems("b.db").join("\n"), /^persistence:/m);
  assert.deepEqual(problems(null), []);
});
