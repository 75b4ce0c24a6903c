import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import { decodePacket } from "../../src/protocol/decode.ts";
import { PacketType, ProtocolError } from "../../src/protocol/packets.ts";
import type { ConnectPacket, PublishPacket } from "../../src/protocol/packets.ts";

const gen = (packet: Record<string, unknown>) =>
  new Uint8Array(mqttPacket.generate(packet as unknown as mqttPacket.Packet));

const fails = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(
    () => decodePacket(bytes),
    (e) => e instanceof ProtocolError && pattern.test(e.message),
  );

describe("decodePacket", () => {
  test("CONNECT with will, user name and password", () => {
    const packet = decodePacket(gen({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: "c1",
      clean: false,
      keepalive: 30,
      username: "u",
      password: Buffer.from("p"),
      will: { topic: "w", payload: Buffer.from("bye"), qos: 1, retain: true },
    })) as ConnectPacket;
    assert.equal(packet.type, PacketType.CONNECT);
    assert.equal(packet.clientId, "c1");
    assert.equal(packet.cleanSession, false);
    assert.equal(packet.keepalive, 30);
    assert.equal(packet.username, "u");
    assert.deepEqual([...packet.password!], [0x70]);
    assert.equal(packet.will?.topic, "w");
    assert.equal(packet.will?.qos, 1);
    assert.equal(packet.will?.retain, true);
    assert.deepEqual([...packet.will!.payload], [...Buffer.from("bye")]);
  });

  test("a CONNECT's will payload and password are copies, not views of the read buffer", () => {
    const frame = gen({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: "c1",
      username: "u",
      password: Buffer.from("p"),
      will: { topic: "w", payload: Buffer.from("bye"), qos: 0, retain: false },
    });
    const packet = decodePacket(frame) as ConnectPacket;
    frame.fill(0x21, 14);
    assert.deepEqual([...packet.password!], [0x70]);
    assert.deepEqual([...packet.will!.payload], [...Buffer.from("bye")]);
  });

  test("MQTT 3.1 (MQIsdp, level 3) is accepted", () => {
    const packet = decodePacket(gen({
      cmd: "connect",
      protocolId: "MQIsdp",
      protocolVersion: 3,
      clientId: "old",
      clean: true,
    })) as ConnectPacket;
    assert.equal(packet.protocolVersion, 3);
    assert.equal(packet.returnCode, undefined);
  });

  test("an unsupported level asks for CONNACK 1", () => {
    const bytes = gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "x" });
    bytes[8] = 6; // protocol level byte
    assert.equal((decodePacket(bytes) as ConnectPacket).returnCode, 1);
  });

  test("CONNECT rule violations", () => {
    const base = gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "x" });
    const reserved = base.slice();
    reserved[9] |= 1;
    fails(reserved, /reserved CONNECT flag/);
    const badName = base.slice();
    badName[4] = 0x58; // "XQTT"
    fails(badName, /unknown protocol name/);
    const willQosWithoutWill = base.slice();
    willQosWithoutWill[9] |= 0x08;
    fails(willQosWithoutWill, /without a will/);
  });

  test("PUBLISH keeps the frame and finds the packet identifier", () => {
    const bytes = gen({
      cmd: "publish",
      topic: "a/b",
      payload: Buffer.from("hi"),
      qos: 1,
      messageId: 513,
    });
    const packet = decodePacket(bytes) as PublishPacket;
    assert.equal(packet.topic, "a/b");
    assert.equal(packet.packetId, 513);
    assert.deepEqual([...packet.payload], [0x68, 0x69]);
    assert.equal(packet.frame, bytes);
    assert.equal((bytes[packet.packetIdOffset] << 8) | bytes[packet.packetIdOffset + 1], 513);
  });

  test("PUBLISH violations close the connection", () => {
    fails(Uint8Array.of(0x36, 5, 0, 1, 0x61, 0, 1), /QoS 3/);
    fails(Uint8Array.of(0x38, 3, 0, 1, 0x61), /DUP/);
    fails(gen({ cmd: "publish", topic: "a/+", payload: Buffer.alloc(0) }), /wildcard/);
    fails(Uint8Array.of(0x30, 2, 0, 0), /empty topic/);
    fails(Uint8Array.of(0x32, 5, 0, 1, 0x61, 0, 0), /packet identifier 0/);
    fails(Uint8Array.of(0x30, 4, 0, 2, 0xc3, 0x28), /not valid UTF-8/);
    fails(Uint8Array.of(0x30, 4, 0, 2, 0x61, 0x00), /U\+0000/);
    fails(Uint8Array.of(0x30, 4, 0, 9, 0x61, 0x62), /too short/);
  });

  test("SUBSCRIBE and UNSUBSCRIBE", () => {
    const sub = decodePacket(gen({
      cmd: "subscribe",
      messageId: 7,
      subscriptions: [{ topic: "a/#", qos: 2 }, { topic: "b", qos: 0 }],
    }));
    assert.deepEqual(sub, {
      type: PacketType.SUBSCRIBE,
      packetId: 7,
      subscriptions: [{ filter: "a/#", qos: 2 }, { filter: "b", qos: 0 }],
    });
    fails(Uint8Array.of(0x82, 2, 0, 1), /without a topic filter/);
    fails(Uint8Array.of(0x80, 6, 0, 1, 0, 1, 0x61, 0), /reserved flags/);
    fails(Uint8Array.of(0x82, 6, 0, 1, 0, 1, 0x61, 3), /requested QoS/);
    const unsub = decodePacket(gen({ cmd: "unsubscribe", messageId: 9, unsubscriptions: ["x"] }));
    assert.deepEqual(unsub, { type: PacketType.UNSUBSCRIBE, packetId: 9, filters: ["x"] });
    fails(Uint8Array.of(0xa2, 2, 0, 1), /without a topic filter/);
  });

  test("acknowledgements, PINGREQ, DISCONNECT and packets clients never send", () => {
    assert.deepEqual(decodePacket(Uint8Array.of(0x40, 2, 1, 2)), {
      type: PacketType.PUBACK,
      packetId: 258,
    });
    assert.deepEqual(decodePacket(Uint8Array.of(0x62, 2, 0, 3)), {
      type: PacketType.PUBREL,
      packetId: 3,
    });
    fails(Uint8Array.of(0x60, 2, 0, 3), /reserved flags/);
    fails(Uint8Array.of(0x40, 2, 0, 0), /packet identifier 0/);
    assert.deepEqual(decodePacket(Uint8Array.of(0xc0, 0)), { type: PacketType.PINGREQ });
    assert.deepEqual(decodePacket(Uint8Array.of(0xe0, 0)), { type: PacketType.DISCONNECT });
    fails(Uint8Array.of(0xe1, 0), /reserved flags/);
    fails(Uint8Array.of(0x20, 2, 0, 0), /not sent by clients/);
    fails(Uint8Array.of(0x00, 0), /not sent by clients/);
    fails(Uint8Array.of(0xf0, 0), /not sent by clients/);
  });
});
