import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type mqtt from "mqtt";
import { hashPassword } from "../../src/plugins/password/mod.ts";
import { connect, eventually } from "../helpers/broker.ts";
import { MAX_STREAMS } from "../../src/admin/api.ts";
import { type AdminBroker, startAdminBroker } from "./helpers.ts";

interface Listed {
  items: Record<string, unknown>[];
  truncated: boolean;
}

describe("admin API", () => {
  let scope: AdminBroker;
  const clients: mqtt.MqttClient[] = [];
  const get = async (path: string): Promise<Listed> => {
    const res = await fetch(`${scope.httpUrl}${path}`);
    assert.equal(res.status, 200, path);
    return await res.json() as Listed;
  };
  const send = (method: string, path: string, body?: unknown) =>
    fetch(`${scope.httpUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const client = async (options: mqtt.IClientOptions) => {
    const c = await connect(scope.mqttUrl, { reconnectPeriod: 0, ...options });
    clients.push(c);
    return c;
  };
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "admin-api-"));
    const passwordFile = join(dir, "passwd");
    writeFileSync(passwordFile, `ann:${hashPassword("pw")}\n`);
    scope = await startAdminBroker({ auth: { "password-file": passwordFile } });
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await scope.broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("lists clients with their details, searchable", async () => {
    const alpha = await client({
      clientId: "alpha",
      username: "ann",
      password: "pw",
      keepalive: 30,
    });
    await alpha.subscribeAsync("a/#", { qos: 1 });
    await client({ clientId: "beta", protocolVersion: 5 });
    const { items, truncated } = await get("/api/clients");
    assert.equal(truncated, false);
    const one = items.find((c) => c.clientId === "alpha")!;
    assert.equal(one.user, "ann");
    assert.match(String(one.address), /^127\.0\.0\.1:\d+$/);
    assert.equal(one.protocol, "3.1.1");
    assert.equal(one.listener, "mqtt");
    assert.equal(one.keepalive, 30);
    assert.equal(one.subscriptions, 1);
    assert.equal(one.inflight, 0);
    assert.equal(one.queued, 0);
    assert.equal(one.drops, 0);
    assert.ok(!Number.isNaN(Date.parse(String(one.since))));
    assert.equal(items.find((c) => c.clientId === "beta")!.protocol, "5.0");
    const found = await get("/api/clients?search=ANN");
    assert.deepEqual(found.items.map((c) => c.clientId), ["alpha"]);
  });

  test("lists each client's and session's drops", async () => {
    const small = await client({
      clientId: "small",
      protocolVersion: 5,
      properties: { maximumPacketSize: 64 },
    });
    await small.subscribeAsync("big/#", { qos: 1 });
    const drops = async (path: string) =>
      (await get(path)).items.find((c) => c.clientId === "small")!.drops;
    assert.equal(await drops("/api/clients"), 0);
    scope.broker.publish({ topic: "big/one", payload: "x".repeat(100), qos: 1 });
    scope.broker.publish({ topic: "big/two", payload: "x".repeat(100), qos: 0 });
    assert.equal(await drops("/api/clients"), 2);
    assert.equal(await drops("/api/sessions"), 2);
  });

  test("lists sessions, also disconnected ones, and subscriptions", async () => {
    const keeper = await client({ clientId: "keeper", clean: false });
    await keeper.subscribeAsync("k/+", { qos: 2 });
    keeper.end(true);
    await eventually(() => !scope.broker.clients.some((c) => c.clientId === "keeper"));
    const sessions = await get("/api/sessions");
    const kept = sessions.items.find((s) => s.clientId === "keeper")!;
    assert.equal(kept.connected, false);
    assert.equal(kept.subscriptions, 1);
    const subs = await get("/api/subscriptions");
    assert.deepEqual(subs.items.find((s) => s.clientId === "keeper"), {
      clientId: "keeper",
      filter: "k/+",
      qos: 2,
    });
  });

  test("disconnects a client; an unknown one is 404", async () => {
    const victim = await client({ clientId: "victim", protocolVersion: 5 });
    const gone = new Promise<number | undefined>((resolve) =>
      victim.on("disconnect", (packet) => resolve(packet.reasonCode))
    );
    const res = await send("DELETE", "/api/clients/victim");
    assert.equal(res.status, 204);
    assert.equal(await gone, 0x98);
    await eventually(() => !scope.broker.clients.some((c) => c.clientId === "victim"));
    const missing = await send("DELETE", "/api/clients/victim");
    assert.equal(missing.status, 404);
    assert.match((await missing.json() as { error: string }).error, /no client "victim"/);
  });

  test("publishes, browses retained messages by filter, deletes one", async () => {
    const watcher = await client({ clientId: "watcher" });
    await watcher.subscribeAsync("r/#");
    const seen = new Promise<string>((resolve) =>
      watcher.on("message", (topic, payload) => resolve(`${topic}=${payload}`))
    );
    const published = await send("POST", "/api/publish", {
      topic: "r/text",
      payload: "hello",
      qos: 1,
      retain: true,
    });
    assert.equal(published.status, 204);
    assert.equal(await seen, "r/text=hello");
    scope.broker.publish({ topic: "r/bin", payload: new Uint8Array([0xff, 0]), retain: true });
    scope.broker.publish({ topic: "other", payload: "x", retain: true });
    const retained = await get("/api/retained?filter=r/%23");
    assert.deepEqual(
      retained.items.sort((a, b) => String(a.topic).localeCompare(String(b.topic))),
      [
        { topic: "r/bin", qos: 0, bytes: 2, payload: "/wA=", encoding: "base64" },
        { topic: "r/text", qos: 1, bytes: 5, payload: "hello", encoding: "utf8" },
      ],
    );
    const deleted = await send("DELETE", "/api/retained?topic=r/text");
    assert.equal(deleted.status, 204);
    const left = await get("/api/retained?filter=r/%23");
    assert.deepEqual(left.items.map((m) => m.topic), ["r/bin"]);
    const everything = await get("/api/retained");
    assert.equal(everything.items.length, 2);
  });

  test("bad input gets 400, 415 or 404 with a reason", async () => {
    const badTopic = await send("POST", "/api/publish", { topic: "a/+", payload: "x" });
    assert.equal(badTopic.status, 400);
    assert.match((await badTopic.json() as { error: string }).error, /cannot publish to "a\/\+"/);
    const badQos = await send("POST", "/api/publish", { topic: "a", qos: 3 });
    assert.equal(badQos.status, 400);
    await badQos.body?.cancel();
    const notJson = await fetch(`${scope.httpUrl}/api/publish`, { method: "POST", body: "x" });
    assert.equal(notJson.status, 415);
    await notJson.body?.cancel();
    const badFilter = await fetch(`${scope.httpUrl}/api/retained?filter=a/%23/b`);
    assert.equal(badFilter.status, 400);
    await badFilter.body?.cancel();
    const noRoute = await fetch(`${scope.httpUrl}/api/nothing`);
    assert.equal(noRoute.status, 404);
    await noRoute.body?.cancel();
  });

  test("the overview has the dashboard's figures", async () => {
    const res = await fetch(`${scope.httpUrl}/api/overview`);
    const overview = await res.json() as Record<string, number>;
    for (const key of ["time", "uptime", "clients", "sessions", "subscriptions", "retained"]) {
      assert.equal(typeof overview[key], "number", key);
    }
    assert.equal(overview.clients, scope.broker.gauges.clientsConnected);
    assert.equal(overview.messagesIn, scope.broker.stats.publishReceived);
  });

  test("a live view streams matching messages as server-sent events until closed", async () => {
    const bad = await fetch(`${scope.httpUrl}/api/stream?filter=a/%23/b`);
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const open = async () => {
      const stop = new AbortController();
      const res = await fetch(`${scope.httpUrl}/api/stream?filter=s/%2B`, { signal: stop.signal });
      return { res, stop };
    };
    const { res, stop } = await open();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes(": watching")) seen += (await reader.read()).value;
    scope.broker.publish({ topic: "s/one", payload: "hi", qos: 1 });
    scope.broker.publish({ topic: "other", payload: "no" });
    while (!seen.includes("\n\ndata: ")) seen += (await reader.read()).value;
    while (!seen.endsWith("\n\n")) seen += (await reader.read()).value;
    const event = JSON.parse(seen.split("data: ")[1]);
    assert.deepEqual(event, {
      topic: "s/one",
      qos: 1,
      retain: false,
      payload: "hi",
      encoding: "utf8",
    });
    stop.abort();
    await reader.cancel().catch(() => {});
    // A closed view frees its place: all MAX_STREAMS places open again, one more does not.
    const views: { res: Response; stop: AbortController }[] = [];
    try {
      for (let i = 0; i < MAX_STREAMS; i++) {
        let view = await open();
        for (let tries = 0; view.res.status === 429 && tries < 100; tries++) {
          // The first view's place is given back once the server has seen it close.
          await view.res.body?.cancel();
          await new Promise((resolve) => setTimeout(resolve, 50));
          view = await open();
        }
        views.push(view);
        assert.equal(view.res.status, 200, `view ${i}`);
      }
      const extra = await fetch(`${scope.httpUrl}/api/stream`);
      assert.equal(extra.status, 429);
      await extra.body?.cancel();
    } finally {
      for (const view of views) view.stop.abort();
    }
  });

  test("shows the running configuration", async () => {
    const res = await fetch(`${scope.httpUrl}/api/config`);
    const config = await res.json() as { listeners: { name: string; type: string }[] };
    assert.deepEqual(config.listeners.map((l) => [l.name, l.type]), [
      ["mqtt", "tcp"],
      ["admin", "http"],
    ]);
  });
});
