import { test } from "node:test";
import assert from "node:assert/strict";
import { PluginManager } from "../../src/plugins/manager.ts";
import type { Properties } from "../../src/protocol/properties.ts";
import type {
  AuthRequest,
  DisconnectDetails,
  DisconnectReason,
  Message,
  Plugin,
} from "../../src/plugins/types.ts";
import { authRequest, client, makeConfig, memoryLogger } from "./helpers.ts";

test("the codec's properties pass to plugins as they are", () => {
  // Type-checked: what the codec decodes fits the plugin types without conversion.
  const connect: Properties = {
    userProperties: [["a", "1"], ["a", "2"]],
    authenticationMethod: "SCRAM-SHA-256",
    authenticationData: new Uint8Array([1]),
    sessionExpiryInterval: 10,
    receiveMaximum: 5,
  };
  const request: AuthRequest = { ...authRequest("u"), ...connect };
  assert.deepEqual(request.userProperties, [["a", "1"], ["a", "2"]]);

  const publish: Properties = {
    contentType: "text/plain",
    responseTopic: "r",
    correlationData: new Uint8Array([2]),
    payloadFormatIndicator: true,
    messageExpiryInterval: 30,
    userProperties: [["k", "v"]],
  };
  const message: Message = {
    topic: "t",
    payload: new Uint8Array(),
    qos: 1,
    retain: false,
    properties: publish,
  };
  assert.equal(message.properties?.contentType, "text/plain");
});

test("broker_client_disconnected passes MQTT 5 details to listeners that take them", async () => {
  const seen: [DisconnectReason, DisconnectDetails | undefined][] = [];
  const old: string[] = [];
  const plugins: Plugin[] = [
    {
      name: "new",
      on: {
        broker_client_disconnected: (_c, reason, details) => void seen.push([reason, details]),
      },
    },
    {
      name: "old",
      on: { broker_client_disconnected: (c, reason) => void old.push(`${c.clientId} ${reason}`) },
    },
  ];
  const manager = await PluginManager.load(makeConfig({ plugins }), memoryLogger(), () => {});
  const details: DisconnectDetails = {
    reasonCode: 0x8e,
    sentBy: "server",
    reasonString: "taken over",
  };
  manager.emit("broker_client_disconnected", client("u", "c1"), "takeover", details);
  manager.emit("broker_client_disconnected", client("u", "c2"), "closed");
  assert.deepEqual(seen, [["takeover", details], ["closed", undefined]]);
  assert.deepEqual(old, ["c1 takeover", "c2 closed"]);
});
