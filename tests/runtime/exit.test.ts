import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateCertificates } from "../../scripts/gen-certs.ts";
import { runToExit } from "../helpers/broker.ts";

/** How to run a TypeScript file with the runtime running this test. */

describe("runtime adapter: process lifetime", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "broker-certs-"));
    await generateCertificates(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("after every server and connection is closed, the process exits by itself", async () => {
    const script = fileURLToPath(new URL("./fixtures/serve-once.ts", import.meta.url));
    const { outcome, output } = await runToExit(script, [dir]);
    assert.equal(outcome, "exit 0", output);
    assert.match(output, /closed/);
  });
});
