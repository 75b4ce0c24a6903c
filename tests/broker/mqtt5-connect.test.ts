import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../../src/plugins/password/mod.ts";
import { collect, eventually, type RawClient, withBroker } from "../helpers/broker.ts";
import { packet, str } from "../helpers/hostile.ts";

const dir = mkdtempSync(join(tmpdir(), "broker-mqtt5-"));
const passwordFile = join(dir, "passwd");
before(() => writeFileSync(passwordFile, `alice:${hashPassword("right")}\n`));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Waits for DISCONNECT from the broker, then for the close; resolves with its reason code. */
async function disconnectedWith(c: RawClient, ms = 5000): Promise<number> {
  const disconnect = await c.next("disconnect", ms);
  await c.waitClosed();
  return disconnect.reasonCode as number;
}

describe("MQTT 5 CONNECT", () => {
  test("CONNACK 0 with the properties of what the broker supports", () =>
    withBroker({ "max-inflight-messages": 7 }, async ({ raw, broker }) => {
      const c = await raw(5);
      const connack = await c.handshake({ clientId: "five" });
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.sessionPresent, false);
      assert.deepEqual(connack.properties, {
        receiveMaximum: 7,
        maximumPacketSize: 1048576,
        topicAliasMaximum: 10,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: true,
      });
      assert.equal(broker.clients[0].protocolVersion, 5);
      assert.equal(broker.stats.connectionsMqtt5, 1);
      assert.equal(broker.gauges.clientsByVersion[5], 1);
      assert.equal(broker.gauges.clientsByVersion[4], 0);
    }));

  test("MQTT.js speaking 5.0 connects and round-trips", () =>
    withBroker({}, async ({ client }) => {
      const c = await client({ protocolVersion: 5 });
      const got = collect(c);
      await c.subscribeAsync("r/t", { qos: 1 });
      await c.publishAsync("r/t", "hi", { qos: 1 });
      await eventually(() => got.length === 1, 5000, "the message");
      assert.equal(got[0].payload, "hi");
    }));

  test("an empty client id is assigned, also with clean start 0, whose session then persists", () =>
    withBroker({}, async ({ raw, broker }) => {
      const a = await raw(5);
      // Clean start 0, keepalive 0, session expiry 60 s, empty client id (mqtt-packet will not
      // encode it).
      a.send(packet(0x10, [...str("MQTT"), 5, 0, 0, 0, 5, 0x11, 0, 0, 0, 60, ...str("")]));
      const connack = await a.next("connack");
      assert.equal(connack.reasonCode, 0);
      const id = (connack.properties as Record<string, unknown>).assignedClientIdentifier;
      assert.equal(typeof id, "string");
      assert.deepEqual(broker.clients.map((c) => c.clientId), [id]);
      a.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "p/#", qos: 1 }] });
      await a.next("suback");
      a.send({ cmd: "disconnect" });
      await a.waitClosed();
      const b = await raw(5);
      const again = await b.handshake({
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      assert.equal(again.sessionPresent, true);
      assert.equal(
        (again.properties as Record<string, unknown>).assignedClientIdentifier,
        undefined,
      );
    }));

  test("refusals are 5.0 reason codes: 0x86 bad password, 0x87 not authorized; 3.1.1 gets 4, 5", () =>
    withBroker(
      { auth: { "allow-anonymous": false, "password-file": passwordFile } },
      async ({ raw }) => {
        const cases: [4 | 5, Record<string, unknown>, number][] = [
          [5, { username: "alice", password: Buffer.from("wrong") }, 0x86],
          [5, {}, 0x87],
          [5, { username: "alice", password: Buffer.from("right") }, 0],
          [4, { username: "alice", password: Buffer.from("wrong") }, 4],
          [4, {}, 5],
        ];
        for (const [version, fields, code] of cases) {
          const c = await raw(version);
          const connack = await c.handshake(fields);
          assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, code);
          if (code !== 0) await c.waitClosed();
        }
      },
    ));

  test("an authentication method nobody offers gets CONNACK 0x8C", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ properties: { authenticationMethod: "SCRAM-SHA-1" } });
      assert.equal(connack.reasonCode, 0x8c);
      await c.waitClosed();
    }));
});

describe("MQTT 5 DISCONNECT from the broker says why", () => {
  test("0x8E to the connection taken over", () =>
    withBroker({}, async ({ raw }) => {
      const first = await raw(5);
      await first.handshake({ clientId: "twin" });
      const second = await raw(5);
      await second.handshake({ clientId: "twin" });
      assert.equal(await disconnectedWith(first), 0x8e);
    }));

  test("0x81 for a malformed packet, 0x82 for a second CONNECT, 0x94 for a topic alias", () =>
    withBroker({}, async ({ raw }) => {
      const malformed = await raw(5);
      await malformed.handshake();
      malformed.send(packet(0x36, [...str("t"), 0, 1, 0])); // PUBLISH with QoS 3
      assert.equal(await disconnectedWith(malformed), 0x81);

      const twice = await raw(5);
      await twice.handshake();
      twice.send({ cmd: "connect", protocolVersion: 5, clientId: "again" });
      assert.equal(await disconnectedWith(twice), 0x82);

      const aliased = await raw(5);
      await aliased.handshake();
      aliased.send({ cmd: "publish", topic: "t", payload: "x", properties: { topicAlias: 11 } });
      assert.equal(await disconnectedWith(aliased), 0x94);
    }));

  test("0x95 for a packet over max-packet-size", () =>
    withBroker({ "max-packet-size": 64 }, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({ cmd: "publish", topic: "t", payload: Buffer.alloc(100) });
      assert.equal(await disconnectedWith(c), 0x95);
    }));

  test("0x8D when keepalive expires", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake({ keepalive: 1 });
      assert.equal(await disconnectedWith(c, 8000), 0x8d);
    }));

  test("0x8B when the broker shuts down; 3.1.1 clients are just closed", () =>
    withBroker({}, async ({ raw, broker }) => {
      const five = await raw(5);
      await five.handshake();
      const four = await raw();
      await four.handshake();
      await broker.close();
      assert.equal(await disconnectedWith(five), 0x8b);
      await four.waitClosed();
      assert.deepEqual(four.packets, []);
    }));

  test("nothing to a 5.0 client refused before CONNECT completed", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      c.send({ cmd: "pingreq" });
      await c.waitClosed();
      assert.deepEqual(c.packets, []);
    }));
});

describe("MQTT 5 DISCONNECT from the client", () => {
  const will = { topic: "wills/five", payload: Buffer.from("gone"), qos: 1, retain: false };

  for (const [code, published] of [[0x00, false], [0x04, true]] as const) {
    test(`reason 0x0${code.toString(16)} ${published ? "publishes" : "discards"} the will`, () =>
      withBroker({}, async ({ client, raw, broker }) => {
        const watcher = await client();
        const got = collect(watcher);
        await watcher.subscribeAsync("wills/#", { qos: 1 });
        const c = await raw(5);
        await c.handshake({ clientId: "leaving", will });
        c.send({ cmd: "disconnect", reasonCode: code });
        await c.waitClosed();
        await eventually(() => broker.clients.length === 1, 5000, "the disconnect");
        await watcher.publishAsync("wills/marker", "m", { qos: 1 });
        await eventually(() => got.some((m) => m.payload === "m"), 5000, "the marker");
        assert.deepEqual(got.map((m) => m.payload), published ? ["gone", "m"] : ["m"]);
      }));
  }
});
