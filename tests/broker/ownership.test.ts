import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  type BrokerScope,
  collect,
  eventually,
  type RawClient,
  sleep,
  withBroker,
} from "../helpers/broker.ts";
import type { AuthRequest, Plugin } from "../../src/plugins/types.ts";

/** Admits everyone, so that the test is about sessions, not about authentication. */
const trustAll: Plugin = { name: "trust_all", authenticate: () => true };

const config = { plugins: [trustAll] };

/** CONNECT on a fresh raw connection; resolves with the CONNACK's code and session-present. */
async function attempt(
  connection: RawClient,
  fields: Record<string, unknown>,
): Promise<{ code: number; present: boolean }> {
  const connack = await connection.handshake(fields);
  return { code: connack.returnCode as number, present: connack.sessionPresent as boolean };
}

function identity(username: string | undefined, clientId: string, clean = false) {
  return username === undefined
    ? { clientId, clean }
    : { clientId, clean, username, password: Buffer.from("x") };
}

describe("sessions belong to their user", () => {
  test("another user asking for a live session's client id is refused; the owner stays connected", () =>
    withBroker(config, async ({ raw, client, logger }) => {
      const alice = await raw();
      assert.equal((await attempt(alice, identity("alice", "shared"))).code, 0);
      alice.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "secret/#", qos: 1 }],
      });
      await alice.next("suback");
      for (const clean of [false, true]) {
        const mallory = await raw();
        assert.deepEqual(await attempt(mallory, identity("mallory", "shared", clean)), {
          code: 5,
          present: false,
        });
        await mallory.waitClosed();
      }
      const anonymous = await raw();
      assert.equal((await attempt(anonymous, identity(undefined, "shared"))).code, 5);
      await anonymous.waitClosed();
      // Alice's connection and subscription are as they were.
      alice.send({ cmd: "pingreq" });
      await alice.next("pingresp");
      const pub = await client();
      await pub.publishAsync("secret/plan", "for alice", { qos: 1 });
      const message = await alice.next("publish");
      assert.equal(String(message.payload), "for alice");
      const refusals = logger.lines.filter((l) => /^info refused .*shared/.test(l));
      assert.equal(refusals.length, 3);
      assert.match(refusals[0], /client id shared belongs to "alice", not "mallory"/);
      assert.match(refusals[2], /belongs to "alice", not anonymous/);
    }));

  test("an offline session is neither resumed nor wiped by another user", () =>
    withBroker(config, async ({ raw, client, broker }) => {
      const alice = await raw();
      await attempt(alice, identity("alice", "mine"));
      alice.send({
        cmd: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: "secret/#", qos: 1 }],
      });
      await alice.next("suback");
      alice.destroy();
      await eventually(() => broker.gauges.clientsConnected === 0, 5000, "alice to be gone");
      const pub = await client();
      await pub.publishAsync("secret/queued", "while away", { qos: 1 });
      for (const clean of [false, true]) {
        const mallory = await raw();
        assert.deepEqual(await attempt(mallory, identity("mallory", "mine", clean)), {
          code: 5,
          present: false,
        });
        await mallory.waitClosed();
        assert.equal(mallory.packets.length, 0, "mallory got nothing after the CONNACK");
      }
      const back = await raw();
      assert.deepEqual(await attempt(back, identity("alice", "mine")), { code: 0, present: true });
      const queued = await back.next("publish");
      assert.equal(String(queued.payload), "while away");
    }));

  test("clients without a user name, or with an empty one, are one identity", () =>
    withBroker(config, async ({ raw }) => {
      const first = await raw();
      await attempt(first, identity(undefined, "anon"));
      first.destroy();
      const empty = await raw();
      // The helper's CONNECT carries the user name flag with an empty name here.
      assert.deepEqual(await attempt(empty, { clientId: "anon", clean: false, username: "" }), {
        code: 0,
        present: true,
      });
      const alice = await raw();
      assert.equal((await attempt(alice, identity("alice", "anon"))).code, 5);
    }));

  test("a session stops being owned when it ends", () =>
    withBroker(config, async ({ raw, broker }) => {
      const alice = await raw();
      await attempt(alice, identity("alice", "passing", true));
      alice.destroy();
      await eventually(() => broker.gauges.sessionsTotal === 0, 5000, "the clean session to end");
      const bob = await raw();
      assert.deepEqual(await attempt(bob, identity("bob", "passing")), { code: 0, present: false });
    }));
});

/** An auth plugin whose answers for password "slow" wait until the test releases them. */
function slowAuth() {
  const waiting: ((ok: boolean) => void)[] = [];
  const plugin: Plugin = {
    name: "slow_auth",
    authenticate: (request: AuthRequest) => {
      if (Buffer.from(request.password ?? []).toString() !== "slow") return true;
      return new Promise<boolean>((resolve) => waiting.push(resolve));
    },
  };
  return { plugin, waiting };
}

/** A connection whose CONNECT (client id `race`, user `u`) waits in `auth`'s hook. */
async function heldInAuth(
  raw: BrokerScope["raw"],
  auth: ReturnType<typeof slowAuth>,
): Promise<RawClient> {
  const a = await raw();
  a.send({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clientId: "race",
    clean: true,
    keepalive: 0,
    username: "u",
    password: Buffer.from("slow"),
  });
  await eventually(() => auth.waiting.length === 1, 5000, "A to be in its auth hook");
  return a;
}

describe("the newest CONNECT wins", () => {
  test("a CONNECT admitted after a newer one for its client id is refused and touches nothing", () => {
    const auth = slowAuth();
    return withBroker({ plugins: [auth.plugin] }, async ({ raw, client, broker }) => {
      const watcher = await client();
      const wills = collect(watcher);
      await watcher.subscribeAsync("will/#", { qos: 1 });
      const will = { topic: "will/b", payload: Buffer.from("b died"), qos: 1, retain: false };
      const a = await heldInAuth(raw, auth);
      const b = await raw();
      assert.equal((await attempt(b, { ...identity("u", "race"), will })).code, 0);
      b.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "race/#", qos: 1 }] });
      await b.next("suback");
      auth.waiting[0](true);
      const late = await a.next("connack");
      assert.equal(late.returnCode, 3);
      await a.waitClosed();
      // B is still connected, its session (subscription) intact, its will unpublished.
      b.send({ cmd: "pingreq" });
      await b.next("pingresp");
      assert.equal(broker.gauges.subscriptions, 2, "race/# and the watcher's will/#");
      const pub = await client();
      await pub.publishAsync("race/x", "still b's", { qos: 1 });
      assert.equal(String((await b.next("publish")).payload), "still b's");
      await pub.publishAsync("will/marker", "marker", { qos: 1 });
      await eventually(() => wills.length >= 1, 5000, "the marker");
      await sleep(50);
      assert.deepEqual(wills.map((m) => m.payload), ["marker"]);
    });
  });
  test("a late CONNECT cannot wipe the session a newer, since departed connection left", () => {
    const auth = slowAuth();
    return withBroker({ plugins: [auth.plugin] }, async ({ raw, broker }) => {
      const a = await heldInAuth(raw, auth);
      const b = await raw();
      assert.equal((await attempt(b, identity("u", "race"))).code, 0);
      b.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "race/#", qos: 1 }] });
      await b.next("suback");
      b.send({ cmd: "disconnect" });
      await b.waitClosed();
      await eventually(() => broker.gauges.clientsConnected === 0, 5000, "B to be gone");
      auth.waiting[0](true);
      assert.equal((await a.next("connack")).returnCode, 3);
      await a.waitClosed();
      assert.equal(broker.gauges.sessionsTotal, 1);
      assert.equal(broker.gauges.subscriptions, 1, "B's race/# survives A's clean start");
    });
  });
});
