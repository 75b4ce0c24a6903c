/**
 * Packaging: the single executable from `bun build --compile`, and the npm tarball installed in
 * an empty folder. Both are built afresh into temporary folders, never taken from `dist/`.
 *
 * Building is slow and its result does not depend on the runtime running the tests, so these run
 * under Node only (the runner of `npm test` that CI always has) and skip on Deno and Bun saying so.
 * The binary and the package's `bunx` path are still exercised from here.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type mqtt from "mqtt";
import { VERSION } from "../src/version.ts";
import { collect, connect, eventually, within } from "./helpers/broker.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

const skipReason = "Deno" in globalThis || "Bun" in globalThis
  ? "the packaging tests build the binary and the npm package once, under Node (npm test runs them there)"
  : undefined;

if (skipReason !== undefined) console.log(`skipped: ${skipReason}`);

interface Outcome {
  code: number | null;
  output: string;
}

/** Runs a command to its end, or kills it after `ms`. */
async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; ms?: number } = {},
): Promise<Outcome> {
  const child = spawn(cmd, args, {
    cwd: options.cwd ?? root,
    env: options.env ?? { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => output += d);
  child.stderr.on("data", (d) => output += d);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    const code = await within(exited, options.ms ?? 60_000, `${cmd} ${args.join(" ")}`);
    return { code, output };
  } finally {
    child.kill("SIGKILL");
  }
}

async function ok(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const outcome = await run(cmd, args, options);
  assert.equal(outcome.code, 0, `${cmd} ${args.join(" ")} failed:\n${outcome.output}`);
  return outcome.output;
}

/** Every file under `dir`, as `/`-separated paths relative to it. */
function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, path) : [path];
  });
}

/**
 * The packages the published package needs at run time, as the lock file places them (paths
 * relative to the root, nested ones included: MQTT.js needs an older readable-stream of its own
 * below concat-stream). Copied into the test's app in the same layout, they let
 * `npm install --offline` find every dependency already installed, without registry metadata,
 * which `npm ci` never puts in the npm cache.
 */
function runtimeDeps(): string[] {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== "" && !entry.dev && !entry.devOptional)
    .map(([path]) => path);
}

/** A broker process started from a command, with the ports its listeners got. */
interface Started {
  child: ChildProcess;
  ports: Map<string, number>;
  exited: Promise<number | null>;
  output(): string;
}

/** Starts a broker and waits until every named listener logged `ready on`. */
async function startBroker(
  cmd: string,
  args: string[],
  listeners: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<Started> {
  const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => output += d);
  child.stderr!.on("data", (d) => output += d);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const ports = new Map<string, number>();
  try {
    await eventually(
      () => {
        for (const m of output.matchAll(/listener (\S+) ready on \w+:\/\/[^\s]*:(\d+)/g)) {
          ports.set(m[1], Number(m[2]));
        }
        return listeners.every((name) => ports.has(name)) || child.exitCode !== null;
      },
      20_000,
      `listeners ${listeners.join(", ")} to be ready`,
    );
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}; output:\n${output}`);
  }
  if (child.exitCode !== null) throw new Error(`the broker exited early:\n${output}`);
  return { child, ports, exited, output: () => output };
}

/** Subscribes with one client, publishes with another, and checks the message arrives. */
async function roundTrip(subscribeUrl: string, publishUrl: string, auth: mqtt.IClientOptions) {
  const subscriber = await connect(subscribeUrl, auth);
  const publisher = await connect(publishUrl, auth);
  try {
    const received = collect(subscriber);
    await within(subscriber.subscribeAsync("test/#", { qos: 1 }), 5000, "SUBACK");
    await within(publisher.publishAsync("test/hello", "world", { qos: 1 }), 5000, "PUBACK");
    await eventually(() => received.length > 0, 5000, "the message");
    assert.deepEqual(received.map((m) => [m.topic, m.payload]), [["test/hello", "world"]]);
  } finally {
    subscriber.end(true);
    publisher.end(true);
  }
}

/** Sends SIGTERM and expects a clean exit. */
async function stop(broker: Started): Promise<void> {
  try {
    broker.child.kill("SIGTERM");
    const code = await within(broker.exited, 10_000, "the broker to exit after SIGTERM");
    assert.equal(code, 0, `exit code after SIGTERM; output:\n${broker.output()}`);
  } finally {
    broker.child.kill("SIGKILL");
  }
}

/**
 * A configuration with a TCP and a WebSocket listener on free ports, the built-in plugins
 * auth_file and topic_acl, and a store (whose commits run on a worker thread), so a binary
 * missing any of them fails here.
 */
function writeConfig(dir: string): string {
  const path = join(dir, "broker.yaml");
  writeFileSync(
    path,
    [
      "listeners:",
      "  tcp:",
      "    bind: 127.0.0.1:0",
      "  ws:",
      "    bind: 127.0.0.1:0",
      "    type: ws",
      "timeout-disconnect-delay: 0",
      "auth:",
      "  allow-anonymous: false",
      "  password-file: passwd",
      "topic-check:",
      "  enabled: true",
      "  acl:",
      '    alice: ["test/#"]',
      "plugins: [auth_file, topic_acl]",
      "persistence:",
      "  path: broker.db",
      "",
    ].join("\n"),
  );
  return path;
}

const alice: mqtt.IClientOptions = { username: "alice", password: "s3cret" };

/**
 * Runs the full scenario against one way of running the broker: `cmd` with `prefix` before the
 * broker's own arguments, in `cwd`, with its configuration and password file in `dir`.
 */
async function exercise(
  cmd: string,
  prefix: string[],
  dir: string,
  env: Record<string, string>,
  cwd = root,
) {
  const version = await ok(cmd, [...prefix, "--version"], { env, cwd });
  assert.equal(version.trim(), VERSION);
  const example = await ok(cmd, [...prefix, "example-config"], { env, cwd });
  assert.equal(example, readFileSync(join(root, "broker.yaml"), "utf8"));
  const passwd = [...prefix, "passwd", join(dir, "passwd"), "alice", "--password", "s3cret", "-c"];
  await ok(cmd, passwd, { env, cwd });
  const config = writeConfig(dir);
  const store = join(dir, "broker.db");
  for (const suffix of ["", "-wal", "-shm"]) rmSync(store + suffix, { force: true });
  const broker = await startBroker(cmd, [...prefix, "-c", config], ["tcp", "ws"], env, cwd);
  try {
    const tcp = `mqtt://127.0.0.1:${broker.ports.get("tcp")}`;
    const ws = `ws://127.0.0.1:${broker.ports.get("ws")}/mqtt`;
    await roundTrip(ws, tcp, alice);
    // Its PUBACK comes once the store's commit thread has written it.
    const publisher = await connect(tcp, alice);
    try {
      await within(
        publisher.publishAsync("test/kept", "1", { qos: 1, retain: true }),
        5000,
        "PUBACK of a retained message",
      );
    } finally {
      publisher.end(true);
    }
  } finally {
    await stop(broker);
  }
  const summary = await ok(cmd, [...prefix, "store", store], { env, cwd });
  assert.match(summary, /retained\s+1\b/);
}

describe("packaging", () => {
  test(
    "the compiled binary runs with no JavaScript runtime on PATH",
    { skip: skipReason },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "broker-binary-"));
      try {
        const binary = join(dir, "broker");
        const built = await ok(process.execPath, [
          "--import",
          "tsx",
          join(root, "scripts", "compile.ts"),
          "--outfile",
          binary,
        ]);
        assert.match(built, /MiB/);
        // An empty PATH: the binary cannot fall back on a node, bun or deno of this machine.
        const empty = join(dir, "empty-path");
        mkdirSync(empty);
        await exercise(binary, [], dir, { PATH: empty, NO_COLOR: "1" });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test("the npm tarball installs offline and its bin works on Node and through bunx", {
    skip: skipReason,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "broker-package-"));
    try {
      // npm pack runs prepack (npm run build), so the tarball holds a fresh dist/.
      await ok("npm", ["pack", "--pack-destination", dir], { ms: 90_000 });
      const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
      assert.ok(tarball, "npm pack wrote no tarball");
      const app = join(dir, "app");
      mkdirSync(app);
      writeFileSync(join(app, "package.json"), '{ "private": true, "type": "module" }\n');
      for (const path of runtimeDeps()) {
        cpSync(join(root, path), join(app, path), { recursive: true, dereference: true });
      }
      await ok("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir, tarball)], {
        cwd: app,
        ms: 90_000,
      });
      const shipped = filesUnder(join(app, "node_modules", "broker"));
      for (const needed of ["dist/cli.js", "dist/mod.js", "dist/mod.d.ts", "broker.yaml"]) {
        assert.ok(shipped.includes(needed), `the package lacks ${needed}`);
      }
      const runs = /^(dist\/.*\.(js|d\.ts)|broker\.yaml|package\.json|README\.md|LICENSE)$/;
      assert.deepEqual(shipped.filter((path) => !runs.test(path)), [], "files that do not run");
      const env = { ...process.env, NO_COLOR: "1" };
      const installed = join(app, "node_modules", ".bin", "broker");
      await exercise(installed, [], dir, env);

      // bunx --bun runs the same dist/cli.js on Bun, so the Bun adapter in the bundle is used.
      await exercise(bin("bun"), ["x", "--bun", "broker"], dir, env, app);

      const library = await ok(process.execPath, [
        "--input-type=module",
        "--eval",
        'import { createBroker, VERSION } from "broker";\n' +
        'const b = await createBroker({ listeners: { default: { bind: "127.0.0.1:0" } } });\n' +
        "console.log(VERSION, b.listeners[0].port > 0);\n" +
        "await b.close();",
      ], { cwd: app, env });
      assert.equal(library.trim(), `${VERSION} true`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
