/**
 * What a flood of wrong-password CONNECTs does to other clients: a broker in a child process with
 * a password file of SHA-512-crypt users (5000 rounds, the default), a healthy subscriber and
 * publisher that round-trip one message at a time (QoS 0 and 1 in turn), and rounds of 50
 * CONNECTs with a wrong password or an unknown user sent at once. Prints the pair's round-trip
 * times while no flood runs and while the floods are verified.
 *
 *   npx tsx scripts/auth-flood.ts [--runtime node|deno|bun] [--rounds 10] [--flood 50]
 *     [--scheme sha512-crypt|sha256-crypt|pbkdf2-sha512|mosquitto-sha512]
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import mqtt from "mqtt";
import mqttPacket from "mqtt-packet";
import { type HashOptions, hashPassword } from "../src/plugins/password/mod.ts";
import { spawnBroker } from "../tests/helpers/hostile.ts";

helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    rounds: { type: "string", default: "10" },
    flood: { type: "string", default: "50" },
    scheme: { type: "string", default: "sha512-crypt" },
  },
});
const runtime = values.runtime as "node" | "deno" | "bun";
const rounds = Number(values.rounds);
const floodSize = Number(values.flood);
const scheme = values.scheme as HashOptions["scheme"];

const dir = mkdtempSync(join(tmpdir(), "broker-auth-flood-"));
const passwordFile = join(dir, "passwd");
const users = ["alice", "bob", "carol"];
writeFileSync(
  passwordFile,
  users.map((u) => `${u}:${hashPassword(`${u}-pass`, { scheme })}\n`).join(""),
);

/** Resolves with the CONNACK return code, or -1 if the socket closed without one. */
function badConnect(port: number, i: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let code = -1;
    parser.on("packet", (p) => {
      if (p.cmd === "connack") code = p.returnCode ?? -1;
      socket.destroy();
    });
    socket.on("data", (d) => parser.parse(d));
    socket.on("error", () => {});
    socket.on("close", () => resolve(code));
    socket.on("connect", () => {
      socket.write(mqttPacket.generate({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: `flood-${i}`,
        // Known users with a wrong password and unknown users, mixed.
        username: i % 2 ? users[i % users.length] : `nobody-${i}`,
        password: Buffer.from("wrong"),
      }));
    });
  });
}

function connected(options: mqtt.IClientOptions & { port: number }): Promise<mqtt.MqttClient> {
  const client = mqtt.connect({ host: "127.0.0.1", reconnectPeriod: 0, ...options });
  return new Promise((resolve, reject) => {
    client.once("connect", () => {
      // Nagle's 40 ms stalls on the client side would hide what the broker does.
      (client.stream as net.Socket).setNoDelay(true);
      resolve(client);
    });
    client.once("error", reject);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(label: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  console.log(
    `${label}: ${s.length} round trips, p50 ${f(percentile(s, 50))} ms, ` +
      `p99 ${f(percentile(s, 99))} ms, max ${f(s[s.length - 1])} ms`,
  );
}

const broker = await spawnBroker({
  auth: { "allow-anonymous": true, "password-file": passwordFile },
}, runtime);
try {
  const sub = await connected({ port: broker.port, clientId: "sub" });
  const pub = await connected({ port: broker.port, clientId: "pub" });
  await sub.subscribeAsync("rt/#", { qos: 1 });
  let waiting: (() => void) | undefined;
  sub.on("message", () => waiting?.());
  let n = 0;
  const roundTrip = async (): Promise<number> => {
    const started = performance.now();
    const got = new Promise<void>((resolve) => (waiting = resolve));
    const qos = (n++ % 2) as 0 | 1;
    await pub.publishAsync(`rt/${qos}`, "ping", { qos });
    await got;
    return performance.now() - started;
  };

  const quiet: number[] = [];
  for (let i = 0; i < 200; i++) quiet.push(await roundTrip());
  summary("no flood", quiet);

  const during: number[] = [];
  let floodMs = 0;
  const codes = new Map<number, number>();
  for (let r = 0; r < rounds; r++) {
    const started = performance.now();
    let done = false;
    const flood = Promise.all(
      Array.from({ length: floodSize }, (_, i) => badConnect(broker.port, i)),
    )
      .then((all) => {
        done = true;
        for (const c of all) codes.set(c, (codes.get(c) ?? 0) + 1);
      });
    while (!done) during.push(await roundTrip());
    await flood;
    floodMs += performance.now() - started;
  }
  summary(`${rounds} floods of ${floodSize} bad CONNECTs`, during);
  console.log(
    `each flood took ${(floodMs / rounds).toFixed(0)} ms on average; CONNACK codes: ` +
      [...codes].map(([c, k]) => `${c} x${k}`).join(", "),
  );
  sub.end(true);
  pub.end(true);
} finally {
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
