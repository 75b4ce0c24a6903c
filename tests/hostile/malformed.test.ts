import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { collect, eventually, type RawClient, withBroker } from "../helpers/broker.ts";
import {
  connectPacket,
  deepTopic,
  field,
  packet,
  publishPacket,
  str,
  subscribePacket,
} from "../helpers/hostile.ts";

const ascii = (s: string) => Array.from(new TextEncoder().encode(s));

/** CONNECT with the given flags and payload fields after the client id. */
function connectWith(flags: number, clientId: number[], rest: number[] = []): Uint8Array {
  return packet(0x10, [...str("MQTT"), 4, flags, 0, 0, ...field(clientId), ...rest]);
}

const httpRequest = new TextEncoder().encode(
  "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: scanner/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n",
);

/** [what, bytes sent after a good CONNECT (or instead of one), the reason the log must give]. */
type Case = [string, Uint8Array[], RegExp];

const beforeConnect: Case[] = [
  // "G" is PUBACK with flags 7 and "E" a remaining length of 69: refused once 71 bytes are in.
  ["an HTTP request (a port scanner)", [httpRequest], /reserved flags of acknowledgement/],
  ["a TLS ClientHello", [
    Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03),
  ], /reserved flags of CONNECT/],
  [
    "a header claiming 256 MB",
    [Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0x7f)],
    /exceeds max-packet-size/,
  ],
  [
    "a five-byte remaining length",
    [Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0x01)],
    /malformed remaining length/,
  ],
  [
    "an unknown protocol name",
    [packet(0x10, [...str("MQTX"), 4, 2, 0, 0, ...str("x")])],
    /unknown protocol name/,
  ],
  [
    "invalid UTF-8 in the client id",
    [connectWith(2, [0x61, 0xc3, 0x28])],
    /client identifier is not valid UTF-8/,
  ],
  ["U+0000 in the client id", [connectWith(2, [0x61, 0x00])], /client identifier contains U\+0000/],
  ["will QoS 3", [connectWith(0x1e, ascii("w"), [...str("t"), ...str("m")])], /will QoS 3/],
  ["will retain without a will", [connectWith(0x22, ascii("w"))], /without a will/],
  [
    "a wildcard in the will topic",
    [connectWith(0x06, ascii("w"), [...str("a/#"), ...str("m")])],
    /invalid will topic/,
  ],
  [
    "a password without a user name",
    [connectWith(0x42, ascii("w"), [...str("pw")])],
    /password without user name/,
  ],
  [
    "invalid UTF-8 in the user name",
    [connectWith(0x82, ascii("w"), field([0xff]))],
    /user name is not valid UTF-8/,
  ],
  ["trailing bytes after CONNECT", [connectWith(2, ascii("w"), [1, 2, 3])], /trailing bytes/],
];

const afterConnect: Case[] = [
  ["PUBLISH QoS 3", [publishPacket(ascii("ok"), [1], 3)], /QoS 3/],
  ["PUBLISH QoS 0 with DUP", [packet(0x38, [...str("ok"), 1])], /DUP/],
  [
    "PUBLISH QoS 1 with packet id 0",
    [publishPacket(ascii("ok"), [1], 1, 0)],
    /packet identifier 0/,
  ],
  [
    "PUBLISH whose topic overruns the packet",
    [packet(0x30, [0, 50, 0x61])],
    /too short for topic name/,
  ],
  [
    "PUBLISH QoS 1 cut before its packet id",
    [packet(0x32, [...str("ok")])],
    /too short for packet identifier/,
  ],
  [
    "SUBSCRIBE with reserved flags 0",
    [packet(0x80, [0, 1, ...str("a"), 0])],
    /reserved flags of SUBSCRIBE/,
  ],
  ["SUBSCRIBE with packet id 0", [subscribePacket([[ascii("a"), 0]], 0)], /packet identifier 0/],
  ["an empty SUBSCRIBE", [packet(0x82, [0, 1])], /without a topic filter/],
  ["SUBSCRIBE requesting QoS 3", [subscribePacket([[ascii("a"), 3]])], /requested QoS/],
  [
    "SUBSCRIBE without its QoS byte",
    [packet(0x82, [0, 1, ...str("a")])],
    /too short for requested QoS/,
  ],
  [
    "invalid UTF-8 in a topic filter",
    [subscribePacket([[[0x61, 0xff], 0]])],
    /topic filter is not valid UTF-8/,
  ],
  [
    "U+0000 in a topic filter",
    [subscribePacket([[[0x61, 0x00], 0]])],
    /topic filter contains U\+0000/,
  ],
  ["an empty UNSUBSCRIBE", [packet(0xa2, [0, 1])], /without a topic filter/],
  [
    "UNSUBSCRIBE with reserved flags 0",
    [packet(0xa0, [0, 1, ...str("a")])],
    /reserved flags of UNSUBSCRIBE/,
  ],
  ["PUBREL with flags 0", [packet(0x60, [0, 1])], /reserved flags of acknowledgement/],
  ["PUBACK with packet id 0", [packet(0x40, [0, 0])], /packet identifier 0/],
  ["PUBACK of the wrong length", [packet(0x40, [0, 1, 0])], /wrong length/],
  ["PINGREQ with a body", [packet(0xc0, [0])], /with a body/],
  ["DISCONNECT with flags", [packet(0xe1, [])], /reserved flags of DISCONNECT/],
  ["a CONNACK (server-only)", [packet(0x20, [0, 0])], /not sent by clients/],
  ["packet type 0", [packet(0x00, [])], /not sent by clients/],
  ["packet type 15", [packet(0xf0, [])], /not sent by clients/],
  ["a second CONNECT", [connectPacket("again")], /second CONNECT/],
  [
    "a header claiming 256 MB",
    [Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f)],
    /exceeds max-packet-size/,
  ],
  ["PUBLISH to a topic of 5000 levels", [publishPacket(deepTopic(5000), [1], 0)], /levels/],
  ["PUBLISH to a topic of 30000 levels", [publishPacket(deepTopic(30000), [1], 1)], /levels/],
  ["SUBSCRIBE to a filter of 5000 levels", [subscribePacket([[deepTopic(5000), 0]])], /levels/],
  [
    "UNSUBSCRIBE from a filter of 30000 levels",
    [packet(0xa2, [0, 1, ...field(deepTopic(30000))])],
    /levels/,
  ],
];

async function healthyPair(
  client: () => Promise<import("mqtt").MqttClient>,
): Promise<(n: number) => Promise<void>> {
  const sub = await client();
  const pub = await client();
  const got = collect(sub);
  await sub.subscribeAsync("health/#", { qos: 1 });
  return async (n) => {
    await pub.publishAsync(`health/${n}`, String(n), { qos: 1 });
    await eventually(() => got.some((m) => m.payload === String(n)), 5000, `round trip ${n}`);
  };
}

async function closedWithReason(
  c: RawClient,
  lines: string[],
  reason: RegExp,
): Promise<void> {
  await c.waitClosed();
  await eventually(
    () => lines.some((l) => l.startsWith("debug closing") && reason.test(l)),
    2000,
    `a debug line matching ${reason}`,
  );
}

describe("malformed input closes that one connection, with a debug line saying why", () => {
  for (const [what, chunks, reason] of beforeConnect) {
    test(`before CONNECT: ${what}`, () =>
      withBroker({}, async ({ raw, client, logger, broker }) => {
        const roundTrip = await healthyPair(client);
        const bad = await raw();
        for (const chunk of chunks) bad.send(chunk);
        await closedWithReason(bad, logger.lines, reason);
        await roundTrip(1);
        assert.equal(broker.clients.length, 2);
      }));
  }
  for (const [what, chunks, reason] of afterConnect) {
    test(`after CONNECT: ${what}`, () =>
      withBroker({}, async ({ raw, client, logger, broker }) => {
        const roundTrip = await healthyPair(client);
        const bad = await raw();
        await bad.handshake();
        for (const chunk of chunks) bad.send(chunk);
        await closedWithReason(bad, logger.lines, reason);
        await roundTrip(1);
        assert.equal(broker.clients.length, 2);
      }));
  }

  test("a topic deep enough to exhaust the stack in matching never misroutes later messages", () =>
    withBroker({}, async ({ raw, client }) => {
      const a = await client();
      const aGot = collect(a);
      await a.subscribeAsync("a/#", { qos: 1 });
      const bad = await raw();
      await bad.handshake();
      bad.send(subscribePacket([[deepTopic(30000), 0]]));
      bad.send(publishPacket(deepTopic(30000), [1], 0));
      await bad.waitClosed();
      const pub = await client();
      await pub.publishAsync("b", "not for a/#", { qos: 1 });
      await pub.publishAsync("a/x", "for a/#", { qos: 1 });
      await eventually(() => aGot.length > 0, 5000, "the a/# subscriber");
      await pub.publishAsync("a/y", "also for a/#", { qos: 1 });
      await eventually(() => aGot.length > 1, 5000, "the second message");
      assert.deepEqual(aGot.map((m) => m.payload), ["for a/#", "also for a/#"]);
    }));
});
