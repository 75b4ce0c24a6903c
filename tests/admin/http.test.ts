import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import { createBroker } from "../../src/broker/create.ts";
import { connect, memoryLogger } from "../helpers/broker.ts";
import { DASHBOARD_BYTES, DASHBOARD_PATHS } from "../../src/admin/dashboard/assets.ts";
import { LAG_INTERVAL_MS } from "../../src/admin/lag.ts";
import { startAdminBroker } from "./helpers.ts";

/** The value of the sample line `name` (with its labels) in an exposition. */
function sample(body: string, name: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("type: http listener", () => {
  test("serves /healthz, /readyz and /metrics and logs its access rule", async () => {
    const { broker, httpUrl, mqttUrl, logger } = await startAdminBroker();
    try {
      const health = await fetch(`${httpUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), "ok\n");

      const ready = await fetch(`${httpUrl}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: "ready", checks: { listeners: true } });

      const client = await connect(mqttUrl, { clientId: "c1" });
      try {
        const res = await fetch(`${httpUrl}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
        const body = await res.text();
        assert.equal(sample(body, 'mqtt_clients_connected{protocol="3.1.1"}'), 1);
        assert.equal(sample(body, 'mqtt_connections_total{protocol="3.1.1"}'), 1);
        assert.equal(sample(body, 'mqtt_listener_connections{listener="mqtt"}'), 1);
        assert.equal(sample(body, 'mqtt_sessions{state="connected"}'), 1);
        assert.equal(sample(body, "mqtt_auth_successes_total"), 1);
        assert.ok(sample(body, "process_resident_memory_bytes")! > 0);
        assert.ok(sample(body, "mqtt_event_loop_lag_seconds")! >= 0);
        assert.match(body, /^# TYPE mqtt_received_bytes_total counter$/m);
      } finally {
        client.end(true);
      }
      assert.ok(
        logger.lines.some((l) =>
          /^info listener admin: no admin users configured, so only loopback clients/.test(l)
        ),
        logger.lines.join("\n"),
      );
      assert.ok(logger.lines.some((l) => /listener admin ready on http:\/\/127\.0\.0\.1:/.test(l)));
    } finally {
      await broker.close();
    }
  });

  test("/metrics speaks OpenMetrics when Accept asks for it", async () => {
    const { broker, httpUrl } = await startAdminBroker();
    try {
      const res = await fetch(`${httpUrl}/metrics`, {
        headers: { accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5" },
      });
      assert.match(res.headers.get("content-type")!, /^application\/openmetrics-text/);
      const body = await res.text();
      assert.match(body, /^# TYPE mqtt_received_bytes counter$/m);
      assert.match(body, /^mqtt_received_bytes_total \d+$/m);
      assert.ok(body.endsWith("# EOF\n"));
    } finally {
      await broker.close();
    }
  });

  test("counts refusals by reason and messages nobody subscribed to", async () => {
    const { broker, httpUrl, mqttUrl } = await startAdminBroker({
      auth: { "allow-anonymous": false },
    });
    try {
      await assert.rejects(connect(mqttUrl, { reconnectPeriod: 0 }));
      const body = await (await fetch(`${httpUrl}/metrics`)).text();
      assert.equal(sample(body, 'mqtt_connections_refused_total{reason="not_authorized"}'), 1);
      assert.equal(sample(body, "mqtt_auth_failures_total"), 1);
      assert.equal(sample(body, "mqtt_auth_successes_total"), 0);
    } finally {
      await broker.close();
    }
  });

  test("a message published to no subscriber is counted as dropped", async () => {
    const { broker, httpUrl, mqttUrl } = await startAdminBroker();
    const client = await connect(mqttUrl);
    try {
      await client.publishAsync("nobody/listens", "x", { qos: 1 });
      const body = await (await fetch(`${httpUrl}/metrics`)).text();
      assert.equal(sample(body, 'mqtt_messages_dropped_total{reason="no_subscribers"}'), 1);
    } finally {
      client.end(true);
      await broker.close();
    }
  });

  test("counts messages and their bytes in and out by protocol version and QoS", async () => {
    const { broker, httpUrl, mqttUrl } = await startAdminBroker();
    const receiver = await connect(mqttUrl, { protocolVersion: 5 });
    const sender = await connect(mqttUrl);
    try {
      await receiver.subscribeAsync("q/#", { qos: 2 });
      const got = new Promise<void>((resolve) => {
        let n = 0;
        receiver.on("message", () => ++n === 3 && resolve());
      });
      for (const qos of [0, 1, 2] as const) await sender.publishAsync(`q/${qos}`, "xy", { qos });
      await got;
      const body = await (await fetch(`${httpUrl}/metrics`)).text();
      for (const qos of [0, 1, 2]) {
        const sent = `{protocol="5.0",qos="${qos}"}`;
        const received = `{protocol="3.1.1",qos="${qos}"}`;
        assert.equal(sample(body, `mqtt_messages_received_total${received}`), 1, received);
        assert.equal(sample(body, `mqtt_messages_sent_total${sent}`), 1, sent);
        // Fixed header 2, topic 2 + 3, packet id 2 (QoS 1 and 2), payload 2; 5.0 adds a
        // property length of 1.
        const size = 9 + (qos > 0 ? 2 : 0);
        assert.equal(sample(body, `mqtt_messages_received_bytes_total${received}`), size);
        assert.equal(sample(body, `mqtt_messages_sent_bytes_total${sent}`), size + 1);
      }
      assert.equal(sample(body, 'mqtt_messages_received_total{protocol="5.0",qos="0"}'), 0);
      assert.equal(sample(body, 'mqtt_messages_sent_total{protocol="3.1",qos="2"}'), 0);
    } finally {
      receiver.end(true);
      sender.end(true);
      await broker.close();
    }
  });

  test("a JavaScript heap in use and a busy event loop show", async () => {
    const { broker, httpUrl } = await startAdminBroker();
    try {
      // Busy for longer than the lag timer's period: whichever tick falls due meanwhile runs at
      // least this much minus one period late.
      const until = performance.now() + LAG_INTERVAL_MS + 600;
      while (performance.now() < until) { /* blocking the loop on purpose */ }
      await new Promise((resolve) => setTimeout(resolve, LAG_INTERVAL_MS * 2));
      const body = await (await fetch(`${httpUrl}/metrics`)).text();
      assert.ok(sample(body, "mqtt_event_loop_lag_seconds")! >= 0.5, body);
      const used = sample(body, "mqtt_heap_used_bytes")!;
      assert.ok(used > 0);
      assert.ok(sample(body, "process_resident_memory_bytes")! > used);
    } finally {
      await broker.close();
    }
  });

  test("the dashboard's files are small and are what DASHBOARD_BYTES counts", async () => {
    const { broker, httpUrl } = await startAdminBroker();
    try {
      let bytes = 0;
      for (const path of DASHBOARD_PATHS) {
        const res = await fetch(`${httpUrl}${path}`);
        assert.equal(res.status, 200, path);
        bytes += (await res.arrayBuffer()).byteLength;
      }
      assert.equal(bytes, DASHBOARD_BYTES);
      assert.ok(bytes < 32 * 1024, `${bytes} bytes`);
      console.log(`# dashboard assets: ${bytes} bytes`);
    } finally {
      await broker.close();
    }
  });

  test("unknown paths get 404, other methods 405", async () => {
    const { broker, httpUrl } = await startAdminBroker();
    try {
      const missing = await fetch(`${httpUrl}/nothing`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const post = await fetch(`${httpUrl}/metrics`, { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      await post.body?.cancel();
    } finally {
      await broker.close();
    }
  });

  test("ssl: on serves HTTPS with the listener's certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "admin-tls-"));
    try {
      const certs: CertificatePaths = await generateCertificates(dir);
      const { broker, httpUrl } = await startAdminBroker({}, {
        ssl: "on",
        certfile: certs.serverCert,
        keyfile: certs.serverKey,
      });
      try {
        assert.match(httpUrl, /^https:/);
        const body = await new Promise<string>((resolve, reject) => {
          https.get(
            `${httpUrl}/healthz`,
            { ca: readFileSync(certs.ca), servername: "localhost" },
            (res) => {
              let data = "";
              res.setEncoding("utf8");
              res.on("data", (chunk: string) => data += chunk);
              res.on("end", () => resolve(data));
            },
          ).on("error", reject);
        });
        assert.equal(body, "ok\n");
      } finally {
        await broker.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("closing the broker frees the HTTP port", async () => {
    const { broker, httpUrl } = await startAdminBroker();
    await broker.close();
    const port = Number(new URL(httpUrl).port);
    const again = await createBroker({
      listeners: { admin: { type: "http", bind: `127.0.0.1:${port}` } },
    }, { logger: memoryLogger() });
    await again.close();
  });
});
