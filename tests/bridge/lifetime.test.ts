import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { runToExit } from "../helpers/broker.ts";
import { fileURLToPath } from "node:url";

/** How to run a TypeScript file with the runtime running this test. */

describe("bridge lifetime", () => {
  test("close() leaves no bridge socket or timer: the process exits by itself", async () => {
    const script = fileURLToPath(new URL("./fixtures/bridged-close.ts", import.meta.url));
    const { outcome, output } = await runToExit(script);
    assert.equal(outcome, "exit 0", output);
    assert.match(output, /closed/);
  });
});
