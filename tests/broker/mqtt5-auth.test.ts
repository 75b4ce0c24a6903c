import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScramEntry } from "../../src/plugins/password/scram.ts";
import type { AuthExchangeRequest, AuthStep, Plugin } from "../../src/plugins/types.ts";
import mqtt from "mqtt";
import { eventually, type Packet, type RawClient, withBroker, within } from "../helpers/broker.ts";
import { ScramClient } from "../plugins/scram_client.ts";

const SCRAM = "SCRAM-SHA-256";
const dir = mkdtempSync(join(tmpdir(), "broker-mqtt5-auth-"));
const passwordFile = join(dir, "passwd");
before(async () => writeFileSync(passwordFile, `alice:${await createScramEntry("secret")}\n`));
after(() => rmSync(dir, { recursive: true, force: true }));

const scramConfig = { auth: { "allow-anonymous": false, "password-file": passwordFile } };
const text = (data: unknown) => Buffer.from(data as Uint8Array).toString();
const props = (packet: Packet) => (packet.properties ?? {}) as Record<string, unknown>;

/** AUTH from the client with `method` and `data`. */
function auth(c: RawClient, reasonCode: number, data: Uint8Array, method = SCRAM): void {
  c.send({
    cmd: "auth",
    reasonCode,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(data) },
  });
}

/**
 * CONNECT with SCRAM-SHA-256 as `user` with `password`, answering the server-first message;
 * resolves with the CONNACK and the SCRAM client that made the exchange.
 */
async function scramConnect(
  c: RawClient,
  user: string,
  password: string,
  fields: Record<string, unknown> = {},
): Promise<{ connack: Packet; scram: ScramClient }> {
  const scram = new ScramClient(user, password);
  c.send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 5,
    clientId: `scram-${user}`,
    clean: true,
    keepalive: 0,
    ...fields,
    properties: {
      authenticationMethod: SCRAM,
      authenticationData: Buffer.from(scram.first()),
      ...fields.properties as object,
    },
  });
  const serverFirst = await c.next("auth");
  assert.equal(serverFirst.reasonCode, 0x18);
  assert.equal(props(serverFirst).authenticationMethod, SCRAM);
  auth(c, 0x18, scram.final(props(serverFirst).authenticationData as Uint8Array));
  return { connack: await c.next("connack"), scram };
}

/** Waits for DISCONNECT from the broker, then for the close; resolves with its reason code. */
async function disconnectedWith(c: RawClient): Promise<number> {
  const disconnect = await c.next("disconnect");
  await c.waitClosed();
  return disconnect.reasonCode as number;
}

/**
 * A plugin for the method "TOKEN": it continues once with "challenge", then succeeds as `user`
 * when answered "token"; it records its requests and aborts.
 */
function tokenPlugin(user = "device") {
  const seen = { requests: [] as AuthExchangeRequest[], aborts: 0 };
  const plugin: Plugin = {
    name: "token",
    authMethods: ["TOKEN"],
    startAuth(request) {
      seen.requests.push(request);
      let n = 0;
      return {
        step: (data): AuthStep =>
          n++ === 0
            ? { continue: new TextEncoder().encode("challenge") }
            : text(data) === "token"
            ? { success: undefined, username: user }
            : { fail: 0x87, reasonString: "wrong token" },
        abort: () => void seen.aborts++,
      };
    },
  };
  return { plugin, seen };
}

const connectToken = (c: RawClient, fields: Record<string, unknown> = {}) =>
  c.send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 5,
    clientId: "tok",
    clean: true,
    keepalive: 0,
    properties: { authenticationMethod: "TOKEN" },
    ...fields,
  });

describe("MQTT 5 enhanced authentication with SCRAM-SHA-256 (auth_file)", () => {
  test("CONNECT, AUTH 0x18 both ways, CONNACK 0 with the server's signature; the session is the SCRAM user's", () =>
    withBroker(scramConfig, async ({ raw, broker }) => {
      const c = await raw(5);
      const { connack, scram } = await scramConnect(c, "alice", "secret");
      assert.equal(connack.reasonCode, 0);
      assert.equal(props(connack).authenticationMethod, SCRAM);
      assert.equal(text(props(connack).authenticationData), scram.serverSignature());
      // No user name in CONNECT: the client is the user SCRAM authenticated.
      assert.deepEqual(broker.clients.map((i) => i.username), ["alice"]);
    }));

  test("a wrong password and an unknown user get CONNACK 0x86 with a reason string", () =>
    withBroker(scramConfig, async ({ raw }) => {
      for (const [user, password] of [["alice", "wrong"], ["mallory", "secret"]]) {
        const c = await raw(5);
        const { connack } = await scramConnect(c, user, password);
        assert.equal(connack.reasonCode, 0x86, user);
        assert.match(String(props(connack).reasonString), /^SCRAM-SHA-256: /);
        await c.waitClosed();
      }
    }));

  test("no reason string for a client that asked for no problem information", () =>
    withBroker(scramConfig, async ({ raw }) => {
      const c = await raw(5);
      const { connack } = await scramConnect(c, "alice", "wrong", {
        properties: { requestProblemInformation: false },
      });
      assert.equal(connack.reasonCode, 0x86);
      assert.equal(props(connack).reasonString, undefined);
    }));

  test("a CONNECT user name other than the SCRAM user is refused with 0x86", () =>
    withBroker(scramConfig, async ({ raw }) => {
      const c = await raw(5);
      const { connack } = await scramConnect(c, "alice", "secret", { username: "bob" });
      assert.equal(connack.reasonCode, 0x86);
    }));

  test("re-authentication: AUTH 0x19, AUTH 0x18 both ways, AUTH 0x00; traffic goes on meanwhile", () =>
    withBroker(scramConfig, async ({ raw }) => {
      const c = await raw(5);
      const { connack } = await scramConnect(c, "alice", "secret");
      assert.equal(connack.reasonCode, 0);
      const again = new ScramClient("alice", "secret");
      auth(c, 0x19, again.first());
      const serverFirst = await c.next("auth");
      assert.equal(serverFirst.reasonCode, 0x18);
      c.send({ cmd: "publish", topic: "t", payload: "x", qos: 1, messageId: 7 });
      const puback = await c.next("puback");
      assert.equal(puback.messageId, 7);
      auth(c, 0x18, again.final(props(serverFirst).authenticationData as Uint8Array));
      const done = await c.next("auth");
      assert.equal(done.reasonCode, 0);
      assert.equal(props(done).authenticationMethod, SCRAM);
      assert.equal(text(props(done).authenticationData), again.serverSignature());
      c.send({ cmd: "pingreq" });
      await c.next("pingresp");
    }));

  test("a failed re-authentication is DISCONNECT 0x87", () =>
    withBroker(scramConfig, async ({ raw }) => {
      const c = await raw(5);
      await scramConnect(c, "alice", "secret");
      const again = new ScramClient("alice", "wrong");
      auth(c, 0x19, again.first());
      const serverFirst = await c.next("auth");
      auth(c, 0x18, again.final(props(serverFirst).authenticationData as Uint8Array));
      assert.equal(await disconnectedWith(c), 0x87);
    }));

  test("MQTT.js connects with SCRAM-SHA-256 through its handleAuth", () =>
    withBroker(scramConfig, async ({ url, broker }) => {
      const scram = new ScramClient("alice", "secret");
      const client = mqtt.connect(url, {
        protocolVersion: 5,
        reconnectPeriod: 0,
        clientId: "mqttjs-scram",
        properties: { authenticationMethod: SCRAM, authenticationData: Buffer.from(scram.first()) },
      });
      client.handleAuth = (packet, callback) => {
        const data = packet.properties?.authenticationData as Uint8Array;
        callback(undefined, {
          cmd: "auth",
          reasonCode: 0x18,
          properties: {
            authenticationMethod: SCRAM,
            authenticationData: Buffer.from(scram.final(data)),
          },
        });
      };
      try {
        const connack = await within(
          new Promise<mqtt.IConnackPacket>((resolve, reject) => {
            client.once("connect", resolve);
            client.once("error", reject);
          }),
          6000,
          "MQTT.js to connect",
        );
        assert.equal(text(connack.properties?.authenticationData), scram.serverSignature());
        assert.deepEqual(broker.clients.map((i) => i.username), ["alice"]);
      } finally {
        client.end(true);
      }
    }));

  test("a method nobody handles gets CONNACK 0x8C", () =>
    withBroker(scramConfig, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ properties: { authenticationMethod: "GS2-KRB5" } });
      assert.equal(connack.reasonCode, 0x8c);
      await c.waitClosed();
    }));
});

describe("MQTT 5 AUTH exchanges: protocol and bounds", () => {
  test("during the CONNECT exchange anything but AUTH 0x18 with the method is CONNACK 0x82", () => {
    const { plugin } = tokenPlugin();
    return withBroker({ plugins: [plugin] }, async ({ raw }) => {
      const wrong: ((c: RawClient) => void)[] = [
        (c) => c.send({ cmd: "pingreq" }),
        (c) => auth(c, 0x18, new TextEncoder().encode("token"), "OTHER"),
        (c) => auth(c, 0x19, new TextEncoder().encode("token"), "TOKEN"),
      ];
      for (const send of wrong) {
        const c = await raw(5);
        connectToken(c);
        assert.equal((await c.next("auth")).reasonCode, 0x18);
        send(c);
        assert.equal((await c.next("connack")).reasonCode, 0x82);
        await c.waitClosed();
      }
    });
  });

  test("an exchange's failure code and reason string reach CONNACK", () => {
    const { plugin } = tokenPlugin();
    return withBroker({ plugins: [plugin] }, async ({ raw }) => {
      const c = await raw(5);
      connectToken(c);
      await c.next("auth");
      auth(c, 0x18, new TextEncoder().encode("nope"), "TOKEN");
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0x87);
      assert.equal(props(connack).reasonString, "wrong token");
    });
  });

  test("the plugin's request has the CONNECT's 5.0 properties; success makes its user the client", () => {
    const { plugin, seen } = tokenPlugin("device");
    return withBroker({ plugins: [plugin] }, async ({ raw, broker }) => {
      const c = await raw(5);
      connectToken(c, {
        properties: {
          authenticationMethod: "TOKEN",
          userProperties: { site: "north" },
          sessionExpiryInterval: 30,
          receiveMaximum: 9,
        },
      });
      await c.next("auth");
      auth(c, 0x18, new TextEncoder().encode("token"), "TOKEN");
      assert.equal((await c.next("connack")).reasonCode, 0);
      assert.deepEqual(broker.clients.map((i) => i.username), ["device"]);
      const [request] = seen.requests;
      assert.equal(request.method, "TOKEN");
      assert.equal(request.reauthenticate, false);
      assert.deepEqual(request.userProperties, [["site", "north"]]);
      assert.equal(request.sessionExpiryInterval, 30);
      assert.equal(request.receiveMaximum, 9);
    });
  });

  test("a client silent mid-exchange is closed after connect-timeout, and the exchange aborted", () => {
    const { plugin, seen } = tokenPlugin();
    return withBroker({ plugins: [plugin], "connect-timeout": 1 }, async ({ raw }) => {
      const c = await raw(5);
      connectToken(c);
      await c.next("auth");
      await c.waitClosed(8000);
      await eventually(() => seen.aborts === 1, 5000, "the abort");
    });
  });

  test("a connection that goes away mid-exchange aborts it", () => {
    const { plugin, seen } = tokenPlugin();
    return withBroker({ plugins: [plugin] }, async ({ raw }) => {
      const c = await raw(5);
      connectToken(c);
      await c.next("auth");
      c.destroy();
      await eventually(() => seen.aborts === 1, 5000, "the abort");
    });
  });

  test("re-authentication gets the current user name and reauthenticate: true", () => {
    const { plugin, seen } = tokenPlugin("device");
    return withBroker({ plugins: [plugin] }, async ({ raw }) => {
      const c = await raw(5);
      connectToken(c);
      await c.next("auth");
      auth(c, 0x18, new TextEncoder().encode("token"), "TOKEN");
      await c.next("connack");
      auth(c, 0x19, new Uint8Array(), "TOKEN");
      assert.equal((await c.next("auth")).reasonCode, 0x18);
      auth(c, 0x18, new TextEncoder().encode("token"), "TOKEN");
      assert.equal((await c.next("auth")).reasonCode, 0);
      const request = seen.requests[1];
      assert.equal(request.reauthenticate, true);
      assert.equal(request.username, "device");
    });
  });

  test("AUTH 0x19 from a client without a method, or with another method, is DISCONNECT 0x82", () => {
    const { plugin } = tokenPlugin();
    return withBroker({ plugins: [plugin, "auth_anonymous"] }, async ({ raw }) => {
      const plain = await raw(5);
      await plain.handshake();
      auth(plain, 0x19, new Uint8Array(), "TOKEN");
      assert.equal(await disconnectedWith(plain), 0x82);

      const c = await raw(5);
      connectToken(c);
      await c.next("auth");
      auth(c, 0x18, new TextEncoder().encode("token"), "TOKEN");
      await c.next("connack");
      auth(c, 0x19, new Uint8Array(), "OTHER");
      assert.equal(await disconnectedWith(c), 0x82);
    });
  });
});

describe("MQTT 5 reason codes from plugins", () => {
  const redirect: Plugin = {
    name: "redirect",
    authenticate: (request) =>
      request.username === "moved"
        ? {
          allow: false,
          reasonCode: 0x9d,
          serverReference: "new.example:1883",
          reasonString: "gone",
        }
        : true,
  };

  test("authenticate's redirection: CONNACK 0x9D with server reference and reason string; 3.1.1 gets 3", () =>
    withBroker({ plugins: [redirect] }, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ username: "moved" });
      assert.equal(connack.reasonCode, 0x9d);
      assert.equal(props(connack).serverReference, "new.example:1883");
      assert.equal(props(connack).reasonString, "gone");
      const quiet = await raw(5);
      const terse = await quiet.handshake({
        username: "moved",
        properties: { requestProblemInformation: false },
      });
      assert.equal(props(terse).serverReference, "new.example:1883");
      assert.equal(props(terse).reasonString, undefined);
      const old = await raw(4);
      assert.equal((await old.handshake({ username: "moved" })).returnCode, 3);
    }));

  test("a topic plugin's code and reason string reach SUBACK, PUBACK and PUBREC", () => {
    const quota: Plugin = {
      name: "quota",
      authenticate: () => true,
      topicFiltering: (_c, topic) =>
        topic.startsWith("full/") ? { allow: false, reasonCode: 0x97, reasonString: "full" } : true,
    };
    return withBroker({ plugins: [quota], "topic-check": { enabled: true } }, async ({ raw }) => {
      const c = await raw(5);
      await c.handshake();
      c.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "ok/#", qos: 1 }, { topic: "full/#", qos: 1 }],
      });
      const suback = await c.next("suback");
      assert.deepEqual(suback.granted, [1, 0x97]);
      assert.equal(props(suback).reasonString, "full");
      c.send({ cmd: "publish", topic: "full/a", payload: "x", qos: 1, messageId: 2 });
      const puback = await c.next("puback");
      assert.equal(puback.reasonCode, 0x97);
      assert.equal(props(puback).reasonString, "full");
      c.send({ cmd: "publish", topic: "full/a", payload: "x", qos: 2, messageId: 3 });
      assert.equal((await c.next("pubrec")).reasonCode, 0x97);
      const old = await raw(4);
      await old.handshake();
      old.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "full/#", qos: 1 }] });
      assert.deepEqual((await old.next("suback")).granted, [0x80]);
    });
  });
});

describe("events and plugins see the 5.0 fields", () => {
  test("broker_message_received has a 5.0 publish's properties", () =>
    withBroker({}, async ({ raw, broker }) => {
      const seen: unknown[] = [];
      broker.on("broker_message_received", (_c, m) => void seen.push(m.properties));
      const c = await raw(5);
      await c.handshake();
      c.send({
        cmd: "publish",
        topic: "t",
        payload: "x",
        qos: 1,
        messageId: 1,
        properties: { contentType: "text/plain", userProperties: { a: "1" } },
      });
      await c.next("puback");
      const [properties] = seen as Record<string, unknown>[];
      assert.equal(properties.contentType, "text/plain");
      assert.deepEqual(properties.userProperties, [["a", "1"]]);
    }));

  test("broker_client_disconnected gets the DISCONNECT's details, sent by client or server", () =>
    withBroker({}, async ({ raw, broker }) => {
      const seen: unknown[] = [];
      broker.on("broker_client_disconnected", (c, reason, details) => {
        seen.push([c.clientId, reason, details]);
      });
      const leaving = await raw(5);
      await leaving.handshake({ clientId: "leaving" });
      leaving.send({ cmd: "disconnect", reasonCode: 4, properties: { reasonString: "bye" } });
      await leaving.waitClosed();
      const first = await raw(5);
      await first.handshake({ clientId: "twin" });
      const second = await raw(5);
      await second.handshake({ clientId: "twin" });
      await first.waitClosed();
      const old = await raw(4);
      await old.handshake({ clientId: "old" });
      old.send({ cmd: "disconnect" });
      await old.waitClosed();
      await eventually(() => seen.length === 3, 5000, "three disconnections");
      assert.deepEqual(seen, [
        ["leaving", "disconnect", { reasonCode: 4, sentBy: "client", reasonString: "bye" }],
        ["twin", "takeover", { reasonCode: 0x8e, sentBy: "server" }],
        ["old", "disconnect", undefined],
      ]);
    }));
});

describe("refusal log lines (issue 17)", () => {
  test("name the user name, the client id as sent, the listener, the peer and the reason", () =>
    withBroker({ auth: { "allow-anonymous": false } }, async ({ raw, logger }) => {
      const named = await raw(5);
      await named.handshake({ clientId: "c1", username: "alice" });
      const anonymous = await raw(4);
      await anonymous.handshake({ clientId: "" });
      await eventually(
        () => logger.lines.filter((l) => l.includes("refused CONNECT")).length === 2,
        5000,
        "two refusals",
      );
      const lines = logger.lines.filter((l) => l.includes("refused CONNECT"));
      assert.match(
        lines[0],
        /^info refused CONNECT \(user "alice", client id "c1"\) on listener default from 127\.0\.0\.1:\d+: authentication failed \(bad user name or password\)$/,
      );
      assert.match(
        lines[1],
        /^info refused CONNECT \(no user name, no client id\) on listener default from 127\.0\.0\.1:\d+: authentication failed \(not authorized\)$/,
      );
    }));
});
