import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, sleep } from "../helpers/broker.ts";
import { startAdminBroker } from "../admin/helpers.ts";
import { bridgeState, brokerOn, FAST, record } from "./helpers.ts";

test("a bridge's figures are in /metrics (label bridge) and GET /api/bridges", async () => {
  const remote = await brokerOn();
  const got = record(remote.broker, "m/#");
  const edge = await startAdminBroker({
    bridges: { up: { ...FAST, address: remote.url, topics: [{ pattern: "m/#", qos: 1 }] } },
  });
  try {
    await bridgeState(edge.broker).wait("1");
    for (let i = 0; i < 3; i++) edge.broker.publish({ topic: "m/x", payload: String(i), qos: 1 });
    await eventually(() => got.length === 3, 20000, "3 messages at the remote");
    const figures = async () => await (await fetch(`${edge.httpUrl}/metrics`)).text();
    const forwarded = 'mqtt_bridge_messages_forwarded_total{bridge="up",direction="out"} 3';
    let body = await figures();
    // The remote's PUBACKs come after it routed the messages: a bounded wait for them.
    for (let i = 0; i < 400 && !body.includes(forwarded); i++) {
      await sleep(50);
      body = await figures();
    }
    assert.ok(body.includes(forwarded), `${forwarded} in\n${body}`);
    for (
      const line of [
        'mqtt_bridge_up{bridge="up"} 1',
        'mqtt_bridge_messages_forwarded_total{bridge="up",direction="in"} 0',
        'mqtt_bridge_messages_queued{bridge="up"} 0',
        'mqtt_bridge_messages_dropped_total{bridge="up"} 0',
        'mqtt_bridge_reconnects_total{bridge="up"} 0',
      ]
    ) assert.ok(body.includes(line), `${line} in\n${body}`);
    const api = await (await fetch(`${edge.httpUrl}/api/bridges`)).json();
    assert.deepEqual(api, {
      items: [{
        name: "up",
        state: "connected",
        forwardedOut: 3,
        forwardedIn: 0,
        queued: 0,
        dropped: 0,
        reconnects: 0,
      }],
      truncated: false,
    });
  } finally {
    await edge.broker.close();
    await remote.broker.close();
  }
});
