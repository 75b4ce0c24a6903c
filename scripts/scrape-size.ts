/**
 * What a `/metrics` scrape costs with many clients connected: a broker in a child process with an
 * MQTT and a `type: http` listener, `--clients` raw MQTT connections (each CONNECTs and
 * subscribes to a filter of its own), then `--scrapes` scrapes one after another. Prints the
 * size of a scrape in both formats, the time of the first scrape and the median and worst of
 * the others (each over HTTP, as a scraper sees it), the same for `GET /api/clients`, and the
 * broker's resident memory.
 *
 *   npx tsx scripts/scrape-size.ts [--runtime node|deno|bun] [--clients 10000] [--scrapes 20]
 *
 * Each side holds one socket per client: raise `ulimit -n` above `--clients` first.
 *
 * @module
 */
import net from "node:net";
import { parseArgs } from "node:util";
import { helpOnRequest } from "./usage.ts";
import mqttPacket from "mqtt-packet";
import { spawnBroker } from "../tests/helpers/hostile.ts";

helpOnRequest(import.meta.url);
const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    clients: { type: "string", default: "10000" },
    scrapes: { type: "string", default: "20" },
  },
});
const runtime = values.runtime as "node" | "deno" | "bun";
const clientCount = Number(values.clients);
const scrapes = Number(values.scrapes);
/** Connections opening at once: enough to be quick, few enough not to overrun the backlog. */
const BATCH = 200;

/** Opens one client: CONNECT, then SUBSCRIBE once CONNACK came; resolves at SUBACK. */
function openClient(port: number, i: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (packet) => {
      if (packet.cmd === "connack") {
        if (packet.returnCode !== 0) reject(new Error(`client ${i}: CONNACK ${packet.returnCode}`));
        socket.write(mqttPacket.generate({
          cmd: "subscribe",
          messageId: 1,
          subscriptions: [{ topic: `devices/${i}/cmd`, qos: 1 }],
        }));
      } else if (packet.cmd === "suback") resolve(socket);
    });
    socket.on("data", (data) => parser.parse(data));
    socket.on("error", reject);
    socket.on("connect", () => {
      socket.write(mqttPacket.generate({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: `scrape-${i}`,
        clean: true,
        // No PINGREQ during the run: the figures are the scrape's alone.
        keepalive: 0,
      }));
    });
  });
}

/**
 * Times one GET of `url` (cold: code not yet compiled by the JIT), then `count` more; returns the
 * size of the last answer and the times in ms.
 */
async function timeGets(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<{ bytes: number; first: number; median: number; worst: number; body: string }> {
  const times: number[] = [];
  let body = "";
  for (let i = 0; i <= count; i++) {
    const start = performance.now();
    const res = await fetch(url, { headers });
    body = await res.text();
    times.push(performance.now() - start);
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body}`);
  }
  const first = times.shift()!;
  times.sort((a, b) => a - b);
  return {
    first,
    bytes: new TextEncoder().encode(body).byteLength,
    median: times[Math.floor(times.length / 2)],
    worst: times[times.length - 1],
    body,
  };
}

const broker = await spawnBroker({
  listeners: {
    mqtt: { bind: "127.0.0.1:0" },
    admin: { type: "http", bind: "127.0.0.1:0" },
  },
}, runtime);
const sockets: net.Socket[] = [];
try {
  let httpPort = 0;
  for (let tries = 0; httpPort === 0 && tries < 100; tries++) {
    const line = broker.lines.map((l) => / ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(l))
      .find((m) => m !== null);
    if (line) httpPort = Number(line[1]);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (httpPort === 0) throw new Error(`no http listener: ${broker.lines.join("\n")}`);
  const started = performance.now();
  for (let i = 0; i < clientCount; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(i + BATCH, clientCount); j++) {
      batch.push(openClient(broker.port, j));
    }
    sockets.push(...await Promise.all(batch));
  }
  const connectSeconds = (performance.now() - started) / 1000;
  const base = `http://127.0.0.1:${httpPort}`;
  const text = await timeGets(`${base}/metrics`, scrapes);
  const open = await timeGets(`${base}/metrics`, scrapes, {
    accept: "application/openmetrics-text; version=1.0.0",
  });
  const api = await timeGets(`${base}/api/clients`, Math.min(scrapes, 5));
  const sample = (name: string) =>
    Number(text.body.split("\n").find((l) => l.startsWith(name + " "))?.split(" ")[1]);
  const connected = sample('mqtt_clients_connected{protocol="3.1.1"}');
  if (connected !== clientCount) throw new Error(`${connected} of ${clientCount} connected`);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const ms = (t: { first: number; median: number; worst: number }) =>
    `first ${t.first.toFixed(1)} ms, then median ${t.median.toFixed(1)} ms, worst ${
      t.worst.toFixed(1)
    } ms`;
  console.log(
    `runtime ${runtime}: ${clientCount} clients connected in ${connectSeconds.toFixed(1)} s`,
  );
  console.log(`  /metrics (text 0.0.4):   ${kb(text.bytes)}, ${scrapes} scrapes: ${ms(text)}`);
  console.log(`  /metrics (OpenMetrics):  ${kb(open.bytes)}, ${scrapes} scrapes: ${ms(open)}`);
  console.log(
    `  /api/clients:            ${kb(api.bytes)}, ${Math.min(scrapes, 5)} reads: ${ms(api)}`,
  );
  console.log(
    `  broker resident memory:  ${
      (sample("process_resident_memory_bytes") / 2 ** 20).toFixed(0)
    } MiB`,
  );
} finally {
  for (const socket of sockets) socket.destroy();
  await broker.stop();
}
