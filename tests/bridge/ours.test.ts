import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type mqtt from "mqtt";
import type { QoS } from "../../src/protocol/packets.ts";
import { connect, eventually, RawClient } from "../helpers/broker.ts";
import {
  bridgeState,
  brokerOn,
  counts,
  edge,
  floodAcrossCuts,
  freePort,
  markersArrived,
  Proxy,
  record,
  SilentRemote,
} from "./helpers.ts";

const WAIT = 20000;

describe("a bridge to another instance of this broker", () => {
  test("out: local messages go to the remote with the prefixes applied", async () => {
    const remote = await brokerOn();
    const got = record(remote.broker, "#");
    const local = await edge({
      address: remote.url,
      topics: [{
        pattern: "s/#",
        direction: "out",
        qos: 1,
        "local-prefix": "edge/",
        "remote-prefix": "site/",
      }],
    });
    try {
      await bridgeState(local.broker).wait("1");
      local.broker.publish({ topic: "edge/s/1", payload: "a", qos: 1 });
      local.broker.publish({ topic: "other/s/1", payload: "no", qos: 1 });
      local.broker.publish({ topic: "edge/s/2", payload: "b", qos: 0 });
      await eventually(() => got.length >= 2, WAIT, "the messages at the remote");
      assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [
        ["site/s/1", "a", 1],
        ["site/s/2", "b", 0],
      ]);
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });

  test("in: remote messages are published locally with the prefixes applied", async () => {
    const remote = await brokerOn();
    const local = await edge({
      address: remote.url,
      topics: [{
        pattern: "c/#",
        direction: "in",
        qos: 2,
        "remote-prefix": "site/",
        "local-prefix": "cmd/",
      }],
    });
    const got = record(local.broker, "cmd/#");
    try {
      await bridgeState(local.broker).wait("1");
      // The remote subscription is made once the bridge is up; a QoS 2 publish after it arrives.
      const publisher = await connect(remote.url);
      await eventually(
        () => remote.broker.gauges.subscriptions > 0,
        WAIT,
        "the remote subscription",
      );
      await publisher.publishAsync("site/c/1", "x", { qos: 2 });
      await publisher.publishAsync("elsewhere/c/1", "no", { qos: 2 });
      await publisher.publishAsync("site/c/2", "y", { qos: 1 });
      await eventually(() => got.length >= 2, WAIT, "the messages locally");
      assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [
        ["cmd/c/1", "x", 2],
        ["cmd/c/2", "y", 1],
      ]);
      await publisher.endAsync();
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });

  test("5.0 message properties go both ways, with the expiry left", async () => {
    const remote = await brokerOn();
    const local = await edge({
      address: remote.url,
      topics: [{ pattern: "p/out" }, { pattern: "p/in", direction: "in" }],
    });
    try {
      await bridgeState(local.broker).wait("1");
      await eventually(
        () => remote.broker.gauges.subscriptions > 0,
        WAIT,
        "the remote subscription",
      );
      const properties = {
        userProperties: { a: ["1", "2"], b: "3" },
        contentType: "text/plain",
        messageExpiryInterval: 600,
      };
      const localClient = await connect(local.url, { protocolVersion: 5 });
      const remoteClient = await connect(remote.url, { protocolVersion: 5 });
      const seen: mqtt.IPublishPacket[] = [];
      for (const client of [localClient, remoteClient]) {
        client.on("message", (_t, _p, m) => seen.push(m));
      }
      await localClient.subscribeAsync("p/in", { qos: 1 });
      await remoteClient.subscribeAsync("p/out", { qos: 1 });
      await localClient.publishAsync("p/out", "o", { qos: 1, properties });
      await remoteClient.publishAsync("p/in", "i", { qos: 1, properties });
      await eventually(() => seen.length === 2, WAIT, "both");
      for (const m of seen) {
        assert.deepEqual({ ...m.properties?.userProperties }, { a: ["1", "2"], b: "3" });
        assert.equal(m.properties?.contentType, "text/plain");
        const left = m.properties?.messageExpiryInterval ?? 0;
        assert.ok(left > 0 && left <= 600, `expiry ${left}`);
      }
      await localClient.endAsync();
      await remoteClient.endAsync();
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });

  for (const protocol of [5, 4] as const) {
    test(`both (protocol ${protocol}): each side gets the other's messages once, no loop`, async () => {
      const remote = await brokerOn();
      const atRemote = record(remote.broker, "t/#");
      const local = await edge({
        address: remote.url,
        protocol,
        topics: [{ pattern: "t/#", direction: "both", qos: 1 }],
      });
      const atLocal = record(local.broker, "t/#");
      try {
        await bridgeState(local.broker).wait("1");
        await eventually(
          () => remote.broker.gauges.subscriptions > 1,
          WAIT,
          "the remote subscription",
        );
        const remoteClient = await connect(remote.url);
        const localClient = await connect(local.url);
        await localClient.publishAsync("t/from-local", "L", { qos: 1 });
        await remoteClient.publishAsync("t/from-remote", "R", { qos: 1 });
        // A marker each way last: a loop's copies would be on the way before it.
        await eventually(() => atRemote.some((m) => m.payload === "L"), WAIT, "L at the remote");
        await eventually(() => atLocal.some((m) => m.payload === "R"), WAIT, "R locally");
        await localClient.publishAsync("t/m", "mark-l", { qos: 1 });
        await remoteClient.publishAsync("t/m", "mark-r", { qos: 1 });
        await markersArrived(atLocal, atRemote);
        for (const seen of [atLocal, atRemote]) {
          assert.deepEqual([...counts(seen)].sort(), [["L", 1], ["R", 1], ["mark-l", 1], [
            "mark-r",
            1,
          ]]);
        }
        await remoteClient.endAsync();
        await localClient.endAsync();
      } finally {
        await local.broker.close();
        await remote.broker.close();
      }
    });
  }

  for (const qos of [1, 2] as QoS[]) {
    test(`QoS ${qos} out across cut links: nothing lost${qos === 2 ? ", each once" : ""}`, async () => {
      const remote = await brokerOn();
      const total = 300;
      try {
        const seen = await floodAcrossCuts(remote.port, record(remote.broker, "f/#"), qos, total);
        for (let i = 0; i < total; i++) assert.ok(seen.has(String(i)), `message ${i} lost`);
        if (qos === 2) {
          assert.deepEqual([...seen].filter(([, n]) => n > 1), [], "QoS 2 duplicates");
        }
      } finally {
        await remote.broker.close();
      }
    });
  }

  for (const qos of [1, 2] as QoS[]) {
    test(`QoS ${qos} out across a remote restart on the same port: nothing lost, state 0 then 1`, async () => {
      let remote = await brokerOn();
      const port = remote.port;
      const got = record(remote.broker, "f/#");
      const local = await edge({ address: remote.url, topics: [{ pattern: "f/#", qos }] });
      const bridge = bridgeState(local.broker);
      const total = 200;
      try {
        await bridge.wait("1");
        for (let i = 0; i < total; i++) {
          local.broker.publish({ topic: "f/x", payload: String(i), qos });
          if (i === total / 2) {
            await remote.broker.close();
            await bridge.wait("0");
            remote = await brokerOn(port);
            remote.broker.subscribe("f/#", (m) => {
              got.push({ ...m, payload: new TextDecoder().decode(m.payload) });
            });
          }
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 0));
        }
        await bridge.wait("1");
        await eventually(() => counts(got).size === total, WAIT, `all ${total} at the remotes`);
        assert.deepEqual(bridge.state.map((m) => m.payload), ["0", "1", "0", "1"]);
        const late = record(local.broker, "$SYS/broker/connection/up/state");
        assert.deepEqual(late.map((m) => [m.payload, m.retain]), [["1", true]]);
      } finally {
        await local.broker.close();
        await remote.broker.close();
      }
    });
  }

  test("retained: forwarded with the flag, once per change, not replayed on reconnect", async () => {
    const remote = await brokerOn();
    const proxy = await Proxy.start(remote.port);
    const publisher = await connect(remote.url);
    await publisher.publishAsync("r/in", "v1", { qos: 1, retain: true });
    const local = await edge({
      address: `mqtt://127.0.0.1:${proxy.port}`,
      // A clean start: the remote forgets the subscription, MQTT.js makes it again, and the
      // remote sends its retained message again on every reconnect.
      "clean-start": true,
      topics: [{ pattern: "r/in", direction: "in" }, { pattern: "r/out" }, { pattern: "mark" }],
    });
    const atLocal = record(local.broker, "r/in");
    const atRemote = record(remote.broker, "r/out");
    const marks = record(remote.broker, "mark");
    const bridge = bridgeState(local.broker);
    try {
      await bridge.wait("1");
      local.broker.publish({ topic: "r/out", payload: "o1", qos: 1, retain: true });
      await eventually(() => atLocal.length === 1 && atRemote.length === 1, WAIT, "both retained");
      for (let round = 0; round < 2; round++) {
        proxy.cut();
        await bridge.wait("0");
        await bridge.wait("1");
        local.broker.publish({ topic: "mark", payload: String(round), qos: 1 });
        await eventually(() => marks.length === round + 1, WAIT, "the marker");
      }
      await publisher.publishAsync("r/in", "v2", { qos: 1, retain: true });
      await eventually(() => atLocal.length >= 2, WAIT, "the change");
      assert.deepEqual(atLocal.map((m) => m.payload), ["v1", "v2"]);
      // A cut may lose the PUBACK of o1 after the remote took it: QoS 1 then sends it once more.
      // A replay on each reconnect would make it three or more.
      assert.ok(atRemote.length <= 2, `o1 arrived ${atRemote.length} times`);
      assert.ok(atRemote.every((m) => m.payload === "o1"));
      // Stored as retained on each side: a late subscriber gets them with the flag.
      assert.deepEqual(record(local.broker, "r/in").map((m) => [m.payload, m.retain]), [[
        "v2",
        true,
      ]]);
      assert.deepEqual(record(remote.broker, "r/out").map((m) => [m.payload, m.retain]), [[
        "o1",
        true,
      ]]);
      await publisher.endAsync();
    } finally {
      await local.broker.close();
      await proxy.close();
      await remote.broker.close();
    }
  });

  test("fail-over: an unreachable first address, then the second", async () => {
    const remote = await brokerOn();
    const got = record(remote.broker, "#");
    const local = await edge({
      address: [`mqtt://127.0.0.1:${await freePort()}`, remote.url],
      topics: [{ pattern: "a" }],
    });
    try {
      await bridgeState(local.broker).wait("1");
      local.broker.publish({ topic: "a", payload: "1", qos: 1 });
      await eventually(() => got.length === 1, WAIT, "the message");
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });

  test("the queue bound: messages over it are dropped and counted, the rest delivered", async () => {
    const port = await freePort();
    const local = await edge({
      address: `mqtt://127.0.0.1:${port}`,
      "max-queued-messages": 5,
      topics: [{ pattern: "q" }],
    }, { sys_interval: 0.05 });
    const dropped = record(local.broker, "$SYS/broker/bridges/up/dropped");
    const remote = { value: undefined as Awaited<ReturnType<typeof brokerOn>> | undefined };
    try {
      for (let i = 0; i < 20; i++) local.broker.publish({ topic: "q", payload: String(i), qos: 1 });
      await eventually(() => dropped.at(-1)?.payload === "15", WAIT, "15 dropped in $SYS");
      remote.value = await brokerOn(port);
      const got = record(remote.value.broker, "q");
      await eventually(() => got.length === 5, WAIT, "the 5 queued");
      assert.deepEqual(got.map((m) => m.payload), ["0", "1", "2", "3", "4"]);
    } finally {
      await local.broker.close();
      await remote.value?.broker.close();
    }
  });

  test("backpressure: a remote slower than the publishers holds their acknowledgements", async () => {
    const remote = await SilentRemote.start();
    const local = await edge(
      { address: `mqtt://127.0.0.1:${remote.port}`, topics: [{ pattern: "p" }] },
      { sys_interval: 0.05 },
    );
    const queued = record(local.broker, "$SYS/broker/bridges/up/queued");
    const publisher = await connect(local.url);
    const total = 3000;
    let acked = 0;
    try {
      await bridgeState(local.broker).wait("1");
      for (let i = 0; i < total; i++) publisher.publish("p", String(i), { qos: 1 }, () => acked++);
      // The window is in flight, the rest queued: the edge has read every message.
      await eventually(
        () => Number(queued.at(-1)?.payload) + remote.received === total,
        WAIT,
        "every message at the bridge",
      );
      assert.ok(acked < total, `${acked} of ${total} acknowledged before the remote took them`);
      remote.ack();
      await eventually(() => acked === total, WAIT, "every acknowledgement once the remote acks");
      assert.equal(remote.received, total);
    } finally {
      publisher.end(true);
      await local.broker.close();
      await remote.close();
    }
  });

  test("a client may not take the client id of a bridge's stored queue ($bridge/...)", async () => {
    const local = await brokerOn();
    const raw = await RawClient.connect(local.port);
    try {
      const connack = await raw.handshake({ clientId: "$bridge/up" });
      assert.equal(connack.returnCode, 2);
    } finally {
      raw.destroy();
      await local.broker.close();
    }
  });

  test("over WebSocket: ws:// to a remote's ws listener", async () => {
    const remote = await brokerOn(0, {
      listeners: { default: { bind: "127.0.0.1:0", type: "ws" } },
    });
    const got = record(remote.broker, "w/#");
    const local = await edge({
      address: `ws://127.0.0.1:${remote.port}/mqtt`,
      topics: [{ pattern: "w/#", qos: 2 }],
    });
    try {
      await bridgeState(local.broker).wait("1");
      local.broker.publish({ topic: "w/1", payload: "over ws", qos: 2 });
      await eventually(() => got.length === 1, WAIT, "the message over WebSocket");
      assert.equal(got[0].payload, "over ws");
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });
});
