import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** How to run a TypeScript file with the runtime running this test. */
function runtimeCommand(script: string): string[] {
  if ("Deno" in globalThis) return [process.execPath, "run", "-A", script];
  if ("Bun" in globalThis) return [process.execPath, script];
  return [process.execPath, "--import", "tsx", script];
}

describe("bridge lifetime", () => {
  test("close() leaves no bridge socket or timer: the process exits by itself", async () => {
    const script = fileURLToPath(new URL("./fixtures/bridged-close.ts", import.meta.url));
    const [cmd, ...args] = runtimeCommand(script);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Uint8Array) => (output += chunk));
    child.stderr.on("data", (chunk: Uint8Array) => (output += chunk));
    // A bound, not a measurement: a handle left open keeps the child alive indefinitely.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("still running after 30 s");
      }, 30_000);
      child.on("close", (code) => resolve(`exit ${code}`));
    });
    clearTimeout(timer);
    assert.equal(outcome, "exit 0", output);
    assert.match(output, /closed/);
  });
});
