import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connect, runtimeCommand, startBroker, within } from "../helpers/broker.ts";

describe("embedding", () => {
  test("await using closes the broker at the end of the scope", async () => {
    let port = 0;
    {
      await using started = await startBroker().then((s) => s.broker);
      port = started.listeners[0].port;
      const c = await connect(`mqtt://127.0.0.1:${port}`);
      c.end(true);
    }
    const refused = await connect(`mqtt://127.0.0.1:${port}`).then((c) => {
      c.end(true);
      return false;
    }, () => true);
    assert.equal(refused, true);
  });

  test("close() is idempotent and disconnects clients", async () => {
    const { broker, url } = await startBroker();
    const c = await connect(url);
    const closed = new Promise<void>((resolve) => c.on("close", () => resolve()));
    await Promise.all([broker.close(), broker.close()]);
    await within(closed, 5000, "the client to be disconnected");
    c.end(true);
  });

  test("after close() nothing keeps the process alive", async () => {
    const script = fileURLToPath(new URL("../fixtures/exit-after-close.ts", import.meta.url));
    const [cmd, args] = runtimeCommand(script);
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => output += d);
    child.stderr.on("data", (d) => output += d);
    const code = await within(
      new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c))),
      20000,
      "the child process to exit by itself",
    ).catch((error) => {
      child.kill("SIGKILL");
      throw error;
    });
    assert.equal(code, 0, output);
    assert.match(output, /round trip ok/);
  });
});
