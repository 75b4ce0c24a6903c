import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, withBroker } from "../helpers/broker.ts";

describe("CONNECT", () => {
  test("the first packet must be CONNECT", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      c.send({ cmd: "pingreq" });
      await c.waitClosed();
    }));

  test("a second CONNECT closes the connection", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      assert.equal((await c.handshake()).returnCode, 0);
      c.send({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: "again",
        clean: true,
      });
      await c.waitClosed();
    }));

  test("an unsupported protocol level gets CONNACK 1, then the close", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      // CONNECT "MQTT" level 6, clean session, keepalive 0, client id "x".
      c.send(Uint8Array.of(0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 0, 0, 1, 0x78));
      assert.equal((await c.next("connack")).returnCode, 1);
      await c.waitClosed();
    }));

  test("the reserved CONNECT flag set closes the connection without CONNACK", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      c.send(Uint8Array.of(0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 3, 0, 0, 0, 1, 0x78));
      await c.waitClosed();
      assert.equal(c.packets.length, 0);
    }));

  test("an empty client id with clean session 0 gets CONNACK 2", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw();
      // CONNECT "MQTT" level 4, clean session 0, keepalive 0, empty client id (MQTT.js and
      // mqtt-packet refuse to encode it).
      c.send(Uint8Array.of(0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0, 0, 0, 0, 0));
      assert.equal((await c.next("connack")).returnCode, 2);
      await c.waitClosed();
    }));

  test("an empty client id with clean session 1 is given an id", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw();
      const b = await raw();
      assert.equal((await a.handshake({ clientId: "" })).returnCode, 0);
      assert.equal((await b.handshake({ clientId: "" })).returnCode, 0);
      const ids = broker.clients.map((c) => c.clientId);
      assert.equal(ids.length, 2);
      assert.notEqual(ids[0], ids[1]);
      assert.ok(ids.every((id) => id.length > 0));
    }));

  test("a new connection with the same client id takes over", () =>
    withBroker({}, async ({ raw, broker }) => {
      const first = await raw();
      await first.handshake({ clientId: "same" });
      const second = await raw();
      assert.equal((await second.handshake({ clientId: "same" })).returnCode, 0);
      await first.waitClosed();
      assert.deepEqual(broker.clients.map((c) => c.clientId), ["same"]);
      second.send({ cmd: "pingreq" });
      await second.next("pingresp");
    }));

  test("MQTT 3.1 clients (MQIsdp, level 3) are served", () =>
    withBroker({}, async ({ client }) => {
      const c = await client({ protocolId: "MQIsdp", protocolVersion: 3, clientId: "old-client" });
      await c.subscribeAsync("v31");
      const got = new Promise<string>((resolve) =>
        c.on("message", (_t, p) => resolve(p.toString()))
      );
      await c.publishAsync("v31", "hi", { qos: 1 });
      assert.equal(await got, "hi");
    }));

  test("events tell the embedder who connected and why they left", () =>
    withBroker({}, async ({ broker, client }) => {
      const seen: string[] = [];
      broker.on("broker_client_connected", (info) => void seen.push(`+${info.clientId}`));
      broker.on(
        "broker_client_disconnected",
        (info, reason) => void seen.push(`-${info.clientId}:${reason}`),
      );
      const c = await client({ clientId: "evt" });
      await c.endAsync();
      await eventually(() => seen.length === 2, 5000, "both events");
      assert.deepEqual(seen, ["+evt", "-evt:disconnect"]);
    }));
});
