import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { collect, eventually, sleep, withBroker, within } from "../helpers/broker.ts";
import { connectPacket, varint } from "../helpers/hostile.ts";
import type { Plugin } from "../../src/plugins/types.ts";

/** Opens `count` sockets that send `bytes` (maybe nothing) and then stay silent. */
async function silentSockets(port: number, count: number, bytes?: Uint8Array) {
  const sockets = await Promise.all(
    Array.from({ length: count }, () =>
      within(
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
          socket.once("error", reject);
        }),
        5000,
        "a TCP connection",
      )),
  );
  let closed = 0;
  for (const socket of sockets) {
    socket.on("error", () => {});
    socket.on("close", () => void closed++);
    if (bytes) socket.write(bytes);
  }
  return {
    get closed() {
      return closed;
    },
    destroy: () => sockets.forEach((s) => s.destroy()),
  };
}

describe("idle and half-open connections", () => {
  test("many sockets that never send CONNECT neither block new clients nor outlive connect-timeout", () =>
    withBroker({ "connect-timeout": 1 }, async ({ port, client, logger }) => {
      const idle = await silentSockets(port, 200);
      const halfConnect = await silentSockets(port, 50, connectPacket("half").subarray(0, 9));
      try {
        const sub = await client();
        const got = collect(sub);
        await sub.subscribeAsync("idle/test", { qos: 1 });
        const pub = await client();
        await pub.publishAsync("idle/test", "through", { qos: 1 });
        await eventually(() => got.length === 1, 5000, "the round trip");
        await eventually(
          () => idle.closed === 200 && halfConnect.closed === 50,
          10_000,
          "connect-timeout to close every silent socket",
        );
        const timeouts = logger.lines.filter((l) =>
          /^debug closing .*no CONNECT within 1000 ms/.test(l)
        );
        assert.equal(timeouts.length, 250);
        assert.equal(sub.connected && pub.connected, true);
      } finally {
        idle.destroy();
        halfConnect.destroy();
      }
    }));

  test("idle sockets holding every max-connections slot are freed by connect-timeout", () =>
    withBroker(
      {
        "connect-timeout": 1,
        listeners: { default: { bind: "127.0.0.1:0", "max-connections": 20 } },
      },
      async ({ port, broker, client }) => {
        const idle = await silentSockets(port, 20);
        try {
          const extra = await silentSockets(port, 1);
          await eventually(() => extra.closed === 1, 5000, "the 21st connection to be refused");
          assert.equal(broker.stats.connectionsRefused, 1);
          await eventually(() => idle.closed === 20, 10_000, "connect-timeout");
          const c = await client();
          assert.equal(c.connected, true);
        } finally {
          idle.destroy();
        }
      },
    ));

  test("a connection that sends CONNECT in time is not closed by connect-timeout", () =>
    withBroker({ "connect-timeout": 1 }, async ({ raw }) => {
      const c = await raw();
      await c.handshake({ keepalive: 0 });
      const closedEarly = await within(c.closed.then(() => true), 1800, "nothing").catch(() =>
        false
      );
      assert.equal(closedEarly, false);
      c.send({ cmd: "pingreq" });
      await c.next("pingresp");
    }));

  test("a packet dribbled one byte at a time does not keep the connection alive", () =>
    withBroker({}, async ({ raw, logger }) => {
      const c = await raw();
      await c.handshake({ keepalive: 1 });
      let closed = false;
      c.closed.then(() => closed = true);
      // A PUBLISH announcing 1,000 bytes, whose body then comes a byte every 300 ms.
      c.send(Uint8Array.of(0x30, ...varint(1000)));
      const deadline = Date.now() + 10_000;
      while (!closed && Date.now() < deadline) {
        c.send(Uint8Array.of(0x61));
        await sleep(300);
      }
      assert.equal(closed, true, "closed while it kept dribbling");
      assert.ok(logger.lines.some((l) => /closing .*keepalive expired/.test(l)));
    }));

  test("the keepalive counts from admission, not from a slow authentication", () => {
    let release: (() => void) | undefined;
    const slow: Plugin = {
      name: "slow_auth",
      authenticate: () => new Promise<boolean>((resolve) => release = () => resolve(true)),
    };
    return withBroker({ plugins: [slow] }, async ({ raw }) => {
      const c = await raw();
      c.send({
        cmd: "connect",
        protocolId: "MQTT",
        protocolVersion: 4,
        clientId: "slow-auth",
        clean: true,
        keepalive: 2,
      });
      await eventually(() => release !== undefined, 5000, "the auth hook");
      // Longer than 1.5 keepalive periods, which is when a silent client is dropped.
      await sleep(3500);
      release!();
      assert.equal((await c.next("connack")).returnCode, 0);
      await sleep(1000);
      c.send({ cmd: "pingreq" });
      await c.next("pingresp");
    });
  });
});
