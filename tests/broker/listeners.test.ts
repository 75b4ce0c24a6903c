import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type mqtt from "mqtt";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import { createBroker } from "../../src/broker/create.ts";
import type { Broker } from "../../src/broker/broker.ts";
import { collect, connect, eventually, memoryLogger, RawClient } from "../helpers/broker.ts";

let dir = "";
let certs: CertificatePaths;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "broker-listeners-"));
  certs = await generateCertificates(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function portOf(broker: Broker, name: string): number {
  const listener = broker.listeners.find((l) => l.name === name);
  if (!listener) throw new Error(`no listener ${name}`);
  return listener.port;
}

async function canBindIpv6(): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

describe("listeners", () => {
  test("mqtt, mqtts, ws and wss on one broker, with delivery across all of them", async () => {
    const tls = { ssl: "on" as const, certfile: certs.serverCert, keyfile: certs.serverKey };
    const broker = await createBroker({
      listeners: {
        tcp: { bind: "127.0.0.1:0" },
        tls: { bind: "127.0.0.1:0", ...tls },
        ws: { bind: "127.0.0.1:0", type: "ws" },
        wss: { bind: "127.0.0.1:0", type: "ws", ...tls },
      },
    }, { logger: memoryLogger() });
    const ca = readFileSync(certs.ca);
    const clients: mqtt.MqttClient[] = [];
    try {
      const urls = {
        tcp: `mqtt://127.0.0.1:${portOf(broker, "tcp")}`,
        tls: `mqtts://127.0.0.1:${portOf(broker, "tls")}`,
        ws: `ws://127.0.0.1:${portOf(broker, "ws")}/mqtt`,
        wss: `wss://127.0.0.1:${portOf(broker, "wss")}/mqtt`,
      };
      for (const url of Object.values(urls)) {
        clients.push(await connect(url, { ca, rejectUnauthorized: true }));
      }
      for (const c of clients) await c.subscribeAsync("across/#", { qos: 1 });
      for (const [i, c] of clients.entries()) {
        await c.publishAsync(`across/${i}`, `from ${i}`, { qos: 1 });
      }
      for (const c of clients) {
        const got = collect(c);
        await eventually(() => got.length === 4, 5000, "a message from every listener");
        assert.deepEqual(got.map((m) => m.payload).sort(), [
          "from 0",
          "from 1",
          "from 2",
          "from 3",
        ]);
      }
      assert.deepEqual(
        broker.clients.map((c) => c.remoteAddr.transport).sort(),
        ["tcp", "tls", "ws", "wss"],
      );
    } finally {
      for (const c of clients) c.end(true);
      await broker.close();
    }
  });

  test("with cafile, a client certificate signed by the CA is required", async () => {
    const broker = await createBroker({
      listeners: {
        mtls: {
          bind: "127.0.0.1:0",
          ssl: "on",
          certfile: certs.serverCert,
          keyfile: certs.serverKey,
          cafile: certs.ca,
        },
      },
    }, { logger: memoryLogger() });
    const url = `mqtts://127.0.0.1:${portOf(broker, "mtls")}`;
    const ca = readFileSync(certs.ca);
    try {
      const good = await connect(url, {
        ca,
        cert: readFileSync(certs.clientCert),
        key: readFileSync(certs.clientKey),
      });
      good.end(true);
      await assert.rejects(connect(url, {
        ca,
        cert: readFileSync(certs.otherClientCert),
        key: readFileSync(certs.otherClientKey),
      }));
      await assert.rejects(connect(url, { ca }));
    } finally {
      await broker.close();
    }
  });

  test("max-connections: 2 refuses the third client with a CONNACK and logs it", async () => {
    const logger = memoryLogger();
    const broker = await createBroker({
      listeners: { default: { bind: "127.0.0.1:0", "max-connections": 2 } },
    }, { logger });
    const url = `mqtt://127.0.0.1:${broker.listeners[0].port}`;
    const clients: mqtt.MqttClient[] = [];
    try {
      clients.push(await connect(url), await connect(url));
      const third = await RawClient.connect(broker.listeners[0].port);
      // 3.1.1: "server unavailable"; 5.0: "quota exceeded". Then the socket closes.
      assert.equal((await third.handshake({ clientId: "third" })).returnCode, 3);
      await third.waitClosed();
      const fourth = await RawClient.connect(broker.listeners[0].port, 5);
      assert.equal((await fourth.handshake({ clientId: "fourth" })).reasonCode, 0x97);
      await fourth.waitClosed();
      assert.ok(logger.lines.some((l) => /max-connections 2/.test(l)), logger.lines.join("\n"));
      assert.equal(broker.stats.connectionsRefused, 2);
      clients[0].end(true);
      await eventually(() => broker.clients.length === 1, 5000, "the first client to leave");
      clients.push(await connect(url));
    } finally {
      for (const c of clients) c.end(true);
      await broker.close();
    }
  });

  test("a port in use is a start-up error naming the listener", async () => {
    const first = await createBroker({ listeners: { one: { bind: "127.0.0.1:0" } } }, {
      logger: memoryLogger(),
    });
    try {
      const port = first.listeners[0].port;
      await assert.rejects(
        createBroker({ listeners: { two: { bind: `127.0.0.1:${port}` } } }, {
          logger: memoryLogger(),
        }),
        (error: Error) =>
          /listener two/.test(error.message) && error.message.includes(String(port)),
      );
    } finally {
      await first.close();
    }
  });

  test("IPv6 bind on [::1]", async (t) => {
    if (!(await canBindIpv6())) {
      t.skip("this machine has no ::1");
      return;
    }
    const broker = await createBroker({ listeners: { v6: { bind: "[::1]:0" } } }, {
      logger: memoryLogger(),
    });
    try {
      const c = await connect(`mqtt://[::1]:${broker.listeners[0].port}`);
      const got = collect(c);
      await c.subscribeAsync("v6");
      await c.publishAsync("v6", "six", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the message");
      c.end(true);
    } finally {
      await broker.close();
    }
  });
});
