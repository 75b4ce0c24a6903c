import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { withBroker } from "../helpers/broker.ts";
import { brokerDisconnect } from "../helpers/mqtt5.ts";

type Props = Record<string, unknown>;

describe("MQTT 5 CONNACK: server keep alive (max-keepalive)", () => {
  test("a keepalive over max-keepalive, or none, is answered with server keep alive", () =>
    withBroker({ "max-keepalive": 10 }, async ({ raw }) => {
      for (const [asked, told] of [[60, 10], [0, 10], [5, undefined], [10, undefined]]) {
        const c = await raw(5);
        const connack = await c.handshake({ keepalive: asked });
        assert.equal(connack.reasonCode, 0);
        assert.equal((connack.properties as Props).serverKeepAlive, told, `keepalive ${asked}`);
      }
    }));

  test("the broker enforces the server keep alive it announced (0x8D)", () =>
    withBroker({ "max-keepalive": 1 }, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ keepalive: 600 });
      assert.equal((connack.properties as Props).serverKeepAlive, 1);
      assert.equal((await brokerDisconnect(c, 8000)).reasonCode, 0x8d);
    }));

  test("3.1.1 clients cannot be told: over max-keepalive (or none) is refused with 2", () =>
    withBroker({ "max-keepalive": 10 }, async ({ raw }) => {
      for (const [asked, code] of [[60, 2], [0, 2], [10, 0]]) {
        const c = await raw();
        assert.equal(
          (await c.handshake({ keepalive: asked })).returnCode,
          code,
          `keepalive ${asked}`,
        );
      }
    }));

  test("without max-keepalive the client's keepalive stands and none is told", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ keepalive: 0 });
      assert.equal((connack.properties as Props).serverKeepAlive, undefined);
    }));
});

describe("MQTT 5 CONNACK: response information (response-topic-prefix)", () => {
  test("a client that asks gets <prefix>/<client id>; one that does not ask gets none", () =>
    withBroker({ "response-topic-prefix": "reply" }, async ({ raw }) => {
      const asks = await raw(5);
      const connack = await asks.handshake({
        clientId: "asker",
        properties: { requestResponseInformation: true },
      });
      assert.equal((connack.properties as Props).responseInformation, "reply/asker");
      const silent = await raw(5);
      const other = await silent.handshake({ clientId: "silent" });
      assert.equal((other.properties as Props).responseInformation, undefined);
      const odd = await raw(5);
      const wild = await odd.handshake({
        clientId: "a+b",
        properties: { requestResponseInformation: true },
      });
      assert.equal((wild.properties as Props).responseInformation, undefined);
    }));

  test("without response-topic-prefix none is sent", () =>
    withBroker({}, async ({ raw }) => {
      const c = await raw(5);
      const connack = await c.handshake({ properties: { requestResponseInformation: true } });
      assert.equal((connack.properties as Props).responseInformation, undefined);
    }));
});
