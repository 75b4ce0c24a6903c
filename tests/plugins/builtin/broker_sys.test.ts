import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, withBroker } from "../../helpers/broker.ts";
import { VERSION } from "../../../src/version.ts";

describe("broker_sys", () => {
  test("$SYS/broker/version is retained from the start", () =>
    withBroker({ sys_interval: 0 }, async ({ client }) => {
      const c = await client();
      const got = collect(c);
      await c.subscribeAsync("$SYS/broker/version");
      await eventually(() => got.length === 1, 5000, "the version");
      assert.equal(got[0].payload, `broker ${VERSION}`);
      assert.equal(got[0].retain, true);
    }));

  test("every interval publishes the seed's topics and the drop counters", () =>
    withBroker({ sys_interval: 0.2 }, async ({ client }) => {
      const c = await client({ clientId: "sys-watcher" });
      const got = collect(c);
      await c.subscribeAsync("$SYS/broker/#");
      const expected = [
        "load/bytes/received",
        "load/bytes/sent",
        "messages/received",
        "messages/sent",
        "time",
        "uptime",
        "uptime/formatted",
        "uptime/formated",
        "clients/connected",
        "clients/disconnected",
        "clients/maximum",
        "clients/total",
        "clients/refused",
        "clients/refused/connections",
        "clients/refused/sessions",
        "clients/expired",
        "messages/inflight",
        "messages/publish/received",
        "messages/publish/sent",
        "messages/publish/dropped",
        "messages/retained/count",
        "messages/retained/bytes",
        "messages/retained/dropped",
        "messages/subscriptions/count",
        "messages/subscriptions/refused",
      ];
      const seen = () => new Set(got.map((m) => m.topic.slice("$SYS/broker/".length)));
      await eventually(() => expected.every((t) => seen().has(t)), 5000, "every $SYS topic");
      const latest = (t: string) =>
        got.filter((m) => m.topic === `$SYS/broker/${t}`).at(-1)!.payload;
      await eventually(() => latest("clients/connected") === "1", 5000, "one client counted");
      assert.equal(latest("messages/subscriptions/count"), "1");
    }));

  test("clients are counted by protocol version, connected now and since start", () =>
    withBroker({ sys_interval: 0.2 }, async ({ client }) => {
      const c = await client({ clientId: "sys-watcher-5", protocolVersion: 5 });
      await client({ protocolVersion: 5 });
      await client({ protocolVersion: 3, protocolId: "MQIsdp" });
      const got = collect(c);
      await c.subscribeAsync("$SYS/broker/clients/protocol/#");
      const latest = (t: string) =>
        got.filter((m) => m.topic === `$SYS/broker/clients/protocol/${t}`).at(-1)?.payload;
      await eventually(() => latest("5") === "2", 5000, "two 5.0 clients");
      assert.equal(latest("4"), "0");
      assert.equal(latest("3"), "1");
      assert.equal(latest("5/total"), "2");
      assert.equal(latest("3/total"), "1");
    }));

  test("sys_interval 0 publishes nothing but the version", () =>
    withBroker({ sys_interval: 0 }, async ({ client, broker }) => {
      const c = await client();
      const got = collect(c);
      await c.subscribeAsync("$SYS/#");
      await eventually(() => got.length === 1, 5000, "the version");
      assert.equal(broker.gauges.retained, 1);
    }));
});
