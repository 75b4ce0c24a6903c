import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { generateCertificates } from "../../scripts/gen-certs.ts";

/** How to run a TypeScript file with the runtime running this test. */
function runtimeCommand(script: string): string[] {
  if ("Deno" in globalThis) return [process.execPath, "run", "-A", script];
  if ("Bun" in globalThis) return [process.execPath, script];
  return [process.execPath, "--import", "tsx", script];
}

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
    const [cmd, ...args] = runtimeCommand(script);
    const child = spawn(cmd, [...args, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk));
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
