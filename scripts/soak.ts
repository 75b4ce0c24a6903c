/**
 * The soak run: a broker in a child process serves, for a bounded time, a churn of short-lived
 * clients that connect, subscribe, publish QoS 0/1/2 bursts and disconnect (some abruptly), plus
 * persistent-session subscribers that come and go (some abruptly). It reports the broker's RSS
 * over time and every QoS 1/2 message lost or duplicated beyond what the standard allows.
 *
 *   npx tsx scripts/soak.ts [--minutes 3] [--concurrency 400] [--stable 20] [--runtime node]
 *
 * Accounting: a QoS 1/2 message counts as sent once its publisher got PUBACK/PUBCOMP. Each is
 * addressed to one persistent subscriber, whose session exists from before the first publish, so
 * each must arrive: at least once for QoS 1, exactly once for QoS 2. Messages whose publisher
 * vanished before the acknowledgement may or may not arrive; they are counted apart.
 *
 * Exits 1 if a QoS 1/2 message was lost, a QoS 2 message duplicated, or the broker died.
 *
 *   npx tsx scripts/soak.ts --flood [--seconds 60] [--runtime node]
 *
 * The flood run instead: default limits, one subscriber that stops reading, one publisher that
 * never reads its PUBACKs, publishers flooding QoS 0 (1 KiB) with a QoS 1 message every 100, and
 * a healthy subscriber that must get every QoS 1 message. Reports the broker's RSS and `$SYS`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import mqtt from "mqtt";
import { statusKb } from "./bench/procfs.ts";
import {
  connectPacket,
  publishPacket,
  spawnBroker,
  subscribePacket,
} from "../tests/helpers/hostile.ts";

helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "3" },
    concurrency: { type: "string", default: "400" },
    stable: { type: "string", default: "20" },
    runtime: { type: "string", default: "node" },
    flood: { type: "boolean" },
    seconds: { type: "string", default: "60" },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const concurrency = Number(values.concurrency);
const stableCount = Number(values.stable);

/**
 * Settles with `promise`, or once `client` closes: MQTT.js keeps unacknowledged publishes of a
 * closed client pending forever (waiting for a reconnect that `reconnectPeriod: 0` never makes).
 */
function untilClosed(client: mqtt.MqttClient, promise: Promise<unknown>): Promise<unknown> {
  if (client.disconnected || !client.connected) return Promise.resolve();
  return Promise.race([
    promise,
    new Promise((resolve) => client.once("close", () => resolve(undefined))),
  ]).catch(() => {});
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));

const base = { reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30 };
const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;

/** The `--flood` run; returns the exit code. */
async function floodRun(): Promise<number> {
  const seconds = Number(values.seconds);
  const broker = await spawnBroker({ sys_interval: 1 }, values.runtime as "node" | "deno" | "bun");
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const rssStart = statusKb(broker.pid, "VmRSS");
  const ascii = (text: string) => Array.from(Buffer.from(text));
  const rawSocket = async (bytes: Uint8Array[]) => {
    const socket = net.connect(broker.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    for (const b of bytes) socket.write(b);
    return socket;
  };
  // The subscriber that stops reading once it has its CONNACK and SUBACK.
  const stuck = await rawSocket([
    connectPacket("flood-stuck"),
    subscribePacket([[ascii("flood/#"), 1]]),
  ]);
  await new Promise<void>((resolve) => {
    let seen = 0;
    stuck.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= 9) resolve();
    });
  });
  stuck.pause();
  // The publisher that never reads: QoS 1 PUBLISH packets for as long as the broker takes them.
  const chunk = Buffer.concat(
    Array.from({ length: 4096 }, (_, i) => publishPacket(ascii("noread"), [], 1, 1 + i)),
  );
  const flooder = await rawSocket([connectPacket("flood-noread")]);
  flooder.pause();
  let flooderWritten = 0;
  const pumpFlooder = () => {
    while (flooder.write(chunk)) flooderWritten += chunk.length;
    flooderWritten += chunk.length;
  };
  flooder.on("drain", pumpFlooder);
  pumpFlooder();

  const sys = new Map<string, string>();
  const monitor = await mqtt.connectAsync(url, { ...base, clientId: "flood-monitor" });
  monitor.on("message", (topic, payload) => sys.set(topic.slice(12), payload.toString()));
  await monitor.subscribeAsync("$SYS/broker/#");
  const healthy = await mqtt.connectAsync(url, { ...base, clientId: "flood-healthy" });
  const got = new Set<string>();
  healthy.on("message", (_topic, payload, packet) => {
    if (packet.qos === 1) got.add(payload.toString());
  });
  await healthy.subscribeAsync("flood/#", { qos: 1 });

  const started = Date.now();
  // What the non-reading publisher got in, well before write-timeout: if the broker stops
  // reading it, both figures are the same. (After its close the broker drains and discards.)
  const flooderAt: number[] = [];
  const marks = [10_000, 25_000].map((ms) => setTimeout(() => flooderAt.push(flooderWritten), ms));
  let rssPeak = rssStart;
  const sampler = setInterval(() => {
    if (broker.alive) rssPeak = Math.max(rssPeak, statusKb(broker.pid, "VmRSS"));
  }, 250);
  const acked = new Set<string>();
  let sent0 = 0;
  const payload = Buffer.alloc(1024, 0x66);
  await Promise.all(Array.from({ length: 4 }, async (_, p) => {
    const pub = await mqtt.connectAsync(url, { ...base, clientId: `flood-pub-${p}` });
    for (let n = 0; Date.now() - started < seconds * 1000; n++) {
      for (let i = 0; i < 100; i++) pub.publish(`flood/${p}`, payload, { qos: 0 });
      sent0 += 100;
      await pub.publishAsync(`flood/${p}/1`, `${p}:${n}`, { qos: 1 });
      acked.add(`${p}:${n}`);
    }
    await pub.endAsync();
  }));
  const deadline = Date.now() + 10_000;
  while ([...acked].some((k) => !got.has(k)) && Date.now() < deadline) await sleep(100);
  await sleep(2500);
  clearInterval(sampler);
  marks.forEach(clearTimeout);
  const rssEnd = statusKb(broker.pid, "VmRSS");
  const hwm = statusKb(broker.pid, "VmHWM");
  const missed = [...acked].filter((k) => !got.has(k)).length;
  stuck.destroy();
  flooder.destroy();
  healthy.end(true);
  monitor.end(true);
  await broker.stop();
  console.log(
    `flood on ${values.runtime}: ${seconds} s, default limits (max-output-bytes 1 MiB, write-timeout 30 s)`,
  );
  console.log(
    `  QoS 0: ${sent0} x 1 KiB published; QoS 1: ${acked.size} acknowledged, healthy subscriber missed ${missed}`,
  );
  console.log(
    `  non-reading publisher: had written ${
      flooderAt.map((n) => `${(n / 1048576).toFixed(1)} MiB`).join(" at 10 s, ")
    } at 25 s`,
  );
  const keys = [
    "clients/connected",
    "messages/publish/dropped/qos0",
    "messages/publish/dropped/queued",
    "messages/queued",
    "load/bytes/received",
  ];
  console.log(`  $SYS: ${keys.map((k) => `${k}=${sys.get(k)}`).join(", ")}`);
  console.log(
    `  broker "dropping" log lines: ${broker.lines.filter((l) => / dropping /.test(l)).length}`,
  );
  console.log(
    `  broker RSS: start ${mib(rssStart)}, peak ${mib(Math.max(rssPeak, hwm))}, end ${mib(rssEnd)}`,
  );
  return missed === 0 ? 0 : 1;
}

if (values.flood) process.exit(await floodRun());

const broker = await spawnBroker(
  { sys_interval: 5, "connect-timeout": 5 },
  values.runtime as "node" | "deno" | "bun",
);
const url = `mqtt://127.0.0.1:${broker.port}`;

/** How often each QoS 1/2 payload arrived at its subscriber, by QoS. */
const arrived = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
/** Payloads whose publisher got the acknowledgement, by QoS. */
const acked = [new Set<string>(), new Set<string>(), new Set<string>()];
/** Client-side errors by message, so that expected ones (takeovers, resets) can be told apart. */
const errors = new Map<string, number>();
const noteError = (error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  errors.set(message, (errors.get(message) ?? 0) + 1);
};
let clientsStarted = 0;
let abrupt = 0;
let published = 0;

// Persistent subscribers: one session each, subscribed once, reconnecting with the same stores
// so that a QoS 2 message released after a reconnect is still delivered once to the application.
let running = true;
const stable = Array.from({ length: stableCount }, (_, i) => {
  const clientId = `soak-stable-${i}`;
  const incomingStore = new mqtt.Store({ clean: false });
  const outgoingStore = new mqtt.Store({ clean: false });
  const options = { ...base, clientId, clean: false, incomingStore, outgoingStore };
  const onMessage = (_topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => {
    if (packet.qos === 0) return;
    const key = payload.toString();
    const counts = arrived[packet.qos];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  let current: mqtt.MqttClient | undefined;
  const open = async () => {
    // The handler must be there before CONNACK: a resumed session's messages follow at once.
    const c = mqtt.connect(url, options);
    c.on("message", onMessage);
    c.on("error", noteError);
    await new Promise<void>((resolve, reject) => {
      c.once("connect", () => resolve());
      c.once("close", () => reject(new Error("closed before CONNACK")));
    });
    current = c;
    return c;
  };
  const loop = async () => {
    while (running) {
      await sleep(between(2000, 8000));
      if (!running) break;
      const c = current!;
      if (Math.random() < 0.5) {
        abrupt++;
        c.end(true);
      } else await untilClosed(c, c.endAsync());
      current = undefined;
      await sleep(between(300, 2000));
      await open().catch(noteError);
    }
  };
  return {
    topic: `soak/stable/${i}`,
    async start() {
      const c = await open();
      await c.subscribeAsync(`soak/stable/${i}/#`, { qos: 2 });
    },
    loop,
    /** Reconnects if offline; the final drain needs every session attached. */
    async settle() {
      if (!current?.connected) await open();
    },
    close() {
      current?.end(true);
    },
  };
});

async function churnClient(n: number): Promise<void> {
  clientsStarted++;
  const persistent = Math.random() < 0.1;
  const c = await mqtt.connectAsync(url, {
    ...base,
    clientId: persistent ? `soak-pool-${n % 200}` : `soak-churn-${n}`,
    clean: !persistent,
  });
  c.on("error", noteError);
  try {
    await untilClosed(
      c,
      c.subscribeAsync(r(["soak/churn/+", "soak/stable/+/0", "soak/churn/#"]), {
        qos: between(0, 3) as 0 | 1 | 2,
      }),
    );
    const burst = between(5, 30);
    const dropMidway = Math.random() < 0.2 ? between(0, burst) : -1;
    const pending: Promise<unknown>[] = [];
    for (let seq = 0; seq < burst; seq++) {
      if (seq === dropMidway) {
        abrupt++;
        c.end(true);
        await Promise.allSettled(pending);
        return;
      }
      const qos = between(0, 3) as 0 | 1 | 2;
      const target = stable[between(0, stable.length)];
      const key = `${n}:${seq}`;
      const topic = Math.random() < 0.1 ? `soak/churn/${n}` : `${target.topic}/${qos}`;
      published++;
      const sent = c.publishAsync(topic, key, { qos }).then(() => {
        if (qos > 0 && topic.startsWith("soak/stable/")) acked[qos].add(key);
      }, () => {});
      pending.push(untilClosed(c, sent));
      if (Math.random() < 0.5) await untilClosed(c, sent);
    }
    await Promise.allSettled(pending);
    await sleep(between(500, 5000));
    if (Math.random() < 0.3) {
      abrupt++;
      c.end(true);
    } else await untilClosed(c, c.endAsync());
  } catch (error) {
    noteError(error);
    c.end(true);
  }
}

function r<T>(items: T[]): T {
  return items[between(0, items.length)];
}

const rssStart = statusKb(broker.pid, "VmRSS");
const samples: [number, number][] = [[0, rssStart]];
const started = Date.now();
const sampler = setInterval(() => {
  if (!broker.alive) return;
  const rss = statusKb(broker.pid, "VmRSS");
  const t = Math.round((Date.now() - started) / 1000);
  samples.push([t, rss]);
  process.stderr.write(
    `${t} s: broker RSS ${mib(rss)}, clients started ${clientsStarted}, published ${published}\n`,
  );
}, 10_000);

const sys = new Map<string, string>();
const monitor = await mqtt.connectAsync(url, { ...base, clientId: "soak-monitor" });
monitor.on("message", (topic, payload) => sys.set(topic.slice(12), payload.toString()));
await monitor.subscribeAsync("$SYS/broker/#");
await Promise.all(stable.map((s) => s.start()));
const stableLoops = stable.map((s) => s.loop());

let next = 0;
const workers = Array.from({ length: concurrency }, async (_, w) => {
  await sleep(w * 10);
  while (Date.now() - started < durationMs && broker.alive) {
    await churnClient(next++).catch(noteError);
  }
});
await Promise.all(workers);
running = false;
await Promise.all(stableLoops);
await Promise.all(stable.map((s) => s.settle().catch(noteError)));

// Drain: wait until every acknowledged message arrived, or nothing new came for 5 s.
const total = () => arrived[1].size + arrived[2].size;
let last = -1;
let quietSince = Date.now();
while (Date.now() - quietSince < 5000) {
  const missing = [1, 2].some((q) => [...acked[q]].some((k) => !arrived[q].has(k)));
  if (!missing) break;
  if (total() !== last) {
    last = total();
    quietSince = Date.now();
  }
  await sleep(250);
}
await sleep(2000);
const rssLoaded = statusKb(broker.pid, "VmRSS");
for (const s of stable) s.close();
await sleep(6000);
monitor.end(true);
clearInterval(sampler);
const alive = broker.alive;
const rssEnd = alive ? statusKb(broker.pid, "VmRSS") : 0;
const rssPeak = alive ? statusKb(broker.pid, "VmHWM") : Math.max(...samples.map((s) => s[1]));
const dropLines = broker.lines.filter((l) => / dropping /.test(l)).length;
await broker.stop();

const report = (qos: 1 | 2) => {
  let lost = 0;
  let dups = 0;
  for (const key of acked[qos]) if (!arrived[qos].has(key)) lost++;
  for (const count of arrived[qos].values()) if (count > 1) dups++;
  let unacked = 0;
  for (const key of arrived[qos].keys()) if (!acked[qos].has(key)) unacked++;
  return { sent: acked[qos].size, lost, dups, unacked };
};
const q1 = report(1);
const q2 = report(2);
const seconds = (Date.now() - started) / 1000;
console.log(
  `\nsoak on ${values.runtime}: ${
    seconds.toFixed(0)
  } s, ${clientsStarted} churn clients (${concurrency} at a time) + ${stableCount} persistent subscribers`,
);
console.log(
  `  ${published} messages published, ${abrupt} abrupt disconnects, client-side errors: ${
    [...errors].map(([message, n]) => `${n} x ${message}`).join("; ") || "none"
  }`,
);
console.log(
  `  QoS 1: ${q1.sent} acknowledged to persistent sessions, lost ${q1.lost}, duplicated ${q1.dups} (allowed for QoS 1), ${q1.unacked} more from publishers that vanished before PUBACK`,
);
console.log(
  `  QoS 2: ${q2.sent} acknowledged to persistent sessions, lost ${q2.lost}, duplicated ${q2.dups}, ${q2.unacked} more from publishers that vanished before PUBCOMP`,
);
console.log(`  broker "dropping" log lines: ${dropLines}`);
const sysKeys = [
  "clients/connected",
  "clients/total",
  "messages/queued",
  "messages/inflight",
  "messages/publish/dropped/qos0",
  "messages/publish/dropped/queued",
  "messages/subscriptions/count",
];
console.log(`  $SYS at the end: ${sysKeys.map((k) => `${k}=${sys.get(k)}`).join(", ")}`);
console.log(
  `  broker RSS: start ${mib(rssStart)}, peak ${mib(rssPeak)}, loaded end ${
    mib(rssLoaded)
  }, idle end ${mib(rssEnd)}`,
);
console.log(
  `  RSS over time (s: MiB): ${
    samples.map(([t, kb]) => `${t}: ${(kb / 1024).toFixed(0)}`).join(", ")
  }`,
);
console.log(`  broker alive at the end: ${alive ? "yes" : "NO"}`);
process.exit(alive && q1.lost === 0 && q2.lost === 0 && q2.dups === 0 ? 0 : 1);
