import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { connect } from "../helpers/broker.ts";
import { startAdminBroker } from "./helpers.ts";

const installed = spawnSync("promtool", ["--version"]).status === 0;
const skip = installed
  ? false
  : "promtool is not installed (Debian: apt-get install prometheus; .ci/run installs it)";
if (skip) console.log(`# skipping promtool check: ${skip}`);

/** promtool's exit code and output for `exposition` on its stdin. */
function promtool(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Uint8Array) => output += String(chunk));
    child.stderr.on("data", (chunk: Uint8Array) => output += String(chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

test("promtool check metrics accepts a live scrape", { skip }, async () => {
  const { broker, httpUrl, mqttUrl } = await startAdminBroker({
    auth: { "allow-anonymous": false },
  });
  try {
    // A refusal and a subscription, so that labelled and optional families have samples.
    await assert.rejects(connect(mqttUrl, { reconnectPeriod: 0 }));
    broker.subscribe("a/#", () => {})();
    const body = await (await fetch(`${httpUrl}/metrics`)).text();
    const { code, output } = await promtool(body);
    assert.equal(output.trim(), "", output);
    assert.equal(code, 0);
  } finally {
    await broker.close();
  }
});
