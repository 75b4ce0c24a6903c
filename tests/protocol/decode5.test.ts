import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodePacket } from "../../src/protocol/decode.ts";
import {
  type AckPacket,
  type AuthPacket,
  type ConnectPacket,
  type DisconnectPacket,
  PacketType,
  type PublishPacket,
  type SubscribePacket,
  type UnsubscribePacket,
} from "../../src/protocol/packets.ts";
import { ReasonCode } from "../../src/protocol/reason.ts";
import { failsWith, gen5, type OraclePacket, pairs, raw, str } from "../helpers/mqtt5.ts";

const { MALFORMED_PACKET, PROTOCOL_ERROR, TOPIC_ALIAS_INVALID } = ReasonCode;

const decode5 = (bytes: Uint8Array) => decodePacket(bytes, 5);
const fails5 = (bytes: Uint8Array, code: number, pattern: RegExp) =>
  failsWith(() => decode5(bytes), code, pattern);

const connect = (extra: OraclePacket = {}) =>
  gen5({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clientId: "c", ...extra });

/** A CONNECT built by hand: flags, then the property block and payload bytes that follow. */
const rawConnect = (flags: number, rest: number[]) =>
  raw(0x10, ...str("MQTT"), 5, flags, 0, 60, ...rest);

describe("decodePacket, MQTT 5", () => {
  test("CONNECT with every CONNECT property, a will with every will property, user and password", () => {
    const frame = connect({
      clientId: "c5",
      clean: false,
      keepalive: 45,
      username: "u",
      password: Buffer.from("pw"),
      properties: {
        sessionExpiryInterval: 300,
        receiveMaximum: 10,
        maximumPacketSize: 4096,
        topicAliasMaximum: 5,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: { app: "x", tag: ["1", "2"] },
        authenticationMethod: "SCRAM-SHA-256",
        authenticationData: Buffer.from([9, 8]),
      },
      will: {
        topic: "will/t",
        payload: Buffer.from("bye"),
        qos: 2,
        retain: true,
        properties: {
          willDelayInterval: 20,
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
          contentType: "text/plain",
          responseTopic: "reply/here",
          correlationData: Buffer.from([1]),
          userProperties: { w: "1" },
        },
      },
    });
    const packet = decode5(frame) as ConnectPacket;
    const { authenticationData, ...properties } = packet.properties!;
    assert.deepEqual([...authenticationData!], [9, 8]);
    assert.deepEqual(properties, {
      sessionExpiryInterval: 300,
      receiveMaximum: 10,
      maximumPacketSize: 4096,
      topicAliasMaximum: 5,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [["app", "x"], ["tag", "1"], ["tag", "2"]],
      authenticationMethod: "SCRAM-SHA-256",
    });
    assert.equal(packet.protocolVersion, 5);
    assert.equal(packet.protocolName, "MQTT");
    assert.equal(packet.returnCode, undefined);
    assert.equal(packet.clientId, "c5");
    assert.equal(packet.cleanSession, false);
    assert.equal(packet.keepalive, 45);
    assert.equal(packet.username, "u");
    assert.equal(Buffer.from(packet.password!).toString(), "pw");
    const will = packet.will!;
    assert.equal(will.topic, "will/t");
    assert.equal(Buffer.from(will.payload).toString(), "bye");
    assert.equal(will.qos, 2);
    assert.equal(will.retain, true);
    const { correlationData, ...willProperties } = will.properties!;
    assert.deepEqual([...correlationData!], [1]);
    assert.deepEqual(willProperties, {
      willDelayInterval: 20,
      payloadFormatIndicator: true,
      messageExpiryInterval: 60,
      contentType: "text/plain",
      responseTopic: "reply/here",
      userProperties: [["w", "1"]],
    });
    // What the session keeps holds its own bytes, not the connection's read buffer.
    assert.notEqual(will.payload.buffer, frame.buffer);
    assert.notEqual(packet.password!.buffer, frame.buffer);
  });

  test("the least CONNECT: clean start, no properties, no will", () => {
    const packet = decode5(connect({ clean: true, keepalive: 0 })) as ConnectPacket;
    assert.deepEqual(packet, {
      type: PacketType.CONNECT,
      protocolName: "MQTT",
      protocolVersion: 5,
      clientId: "c",
      cleanSession: true,
      keepalive: 0,
      username: undefined,
      password: undefined,
      will: undefined,
      properties: {},
    });
  });

  test("a 5.0 CONNECT still asks for CONNACK 1 unless the caller accepts 5.0", () => {
    const frame = connect();
    assert.equal((decodePacket(frame) as ConnectPacket).returnCode, 1);
    assert.equal((decodePacket(frame, 4) as ConnectPacket).returnCode, 1);
    assert.equal((decodePacket(frame, 5) as ConnectPacket).returnCode, undefined);
  });

  test("a 3.1.1 or 3.1 CONNECT to a caller that accepts 5.0 is decoded as before", () => {
    const v4 = gen5({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "old" });
    const packet = decode5(v4) as ConnectPacket;
    assert.equal(packet.protocolVersion, 4);
    assert.equal(packet.clientId, "old");
    assert.equal(packet.properties, undefined);
    const v3 = gen5({ cmd: "connect", protocolId: "MQIsdp", protocolVersion: 3, clientId: "x" });
    assert.equal((decode5(v3) as ConnectPacket).protocolVersion, 3);
    const level6 = connect();
    level6[8] = 6;
    assert.equal((decode5(level6) as ConnectPacket).returnCode, 1);
  });

  test("5.0 allows a password without a user name", () => {
    const packet = decode5(rawConnect(0x40, [0, ...str("c"), ...str("pw")])) as ConnectPacket;
    assert.equal(packet.username, undefined);
    assert.equal(Buffer.from(packet.password!).toString(), "pw");
  });

  test("CONNECT rule violations", () => {
    const id = str("c");
    fails5(rawConnect(0x01, [0, ...id]), MALFORMED_PACKET, /reserved CONNECT flag/);
    fails5(rawConnect(0x1c, [0, ...id, 0, ...str("w"), 0, 0]), MALFORMED_PACKET, /will QoS 3/);
    fails5(rawConnect(0x08, [0, ...id]), MALFORMED_PACKET, /without a will/);
    fails5(rawConnect(0x20, [0, ...id]), MALFORMED_PACKET, /without a will/);
    fails5(rawConnect(0x04, [0, ...id, 0, ...str("w/+"), 0, 0]), MALFORMED_PACKET, /will topic/);
    fails5(rawConnect(0x04, [0, ...id, 0, 0, 0, 0, 0]), MALFORMED_PACKET, /will topic/);
    fails5(rawConnect(0x00, [0, 0, 2, 0xc3, 0x28]), MALFORMED_PACKET, /client identifier/);
    fails5(rawConnect(0x00, [0, ...id, 7]), MALFORMED_PACKET, /trailing bytes/);
    fails5(rawConnect(0x00, [0]), MALFORMED_PACKET, /too short for client identifier/);
    fails5(rawConnect(0x00, [3, 0x23, 0, 1, ...id]), MALFORMED_PACKET, /topicAlias/);
    fails5(
      rawConnect(0x04, [0, ...id, 5, 0x11, 0, 0, 0, 1, ...str("w"), 0, 0]),
      MALFORMED_PACKET,
      /sessionExpiryInterval/,
    );
    fails5(rawConnect(0x00, [4, 0x16, 0, 1, 7, ...id]), PROTOCOL_ERROR, /authentication data/);
    fails5(rawConnect(0x00, [3, 0x21, 0, 0, ...id]), PROTOCOL_ERROR, /receiveMaximum 0/);
    const flagged = connect();
    flagged[0] |= 1;
    fails5(flagged, MALFORMED_PACKET, /reserved flags/);
  });

  test("PUBLISH with properties keeps the frame and does not copy the payload", () => {
    const frame = gen5({
      cmd: "publish",
      topic: "a/b",
      payload: Buffer.from("hi"),
      qos: 1,
      retain: true,
      messageId: 300,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 10,
        topicAlias: 3,
        responseTopic: "r",
        correlationData: Buffer.from("id"),
        userProperties: { z: "1", a: "2" },
        contentType: "ct",
      },
    });
    const packet = decode5(frame) as PublishPacket;
    assert.equal(packet.topic, "a/b");
    assert.equal(packet.qos, 1);
    assert.equal(packet.retain, true);
    assert.equal(packet.dup, false);
    assert.equal(packet.packetId, 300);
    assert.equal(packet.frame, frame);
    assert.equal((frame[packet.packetIdOffset] << 8) | frame[packet.packetIdOffset + 1], 300);
    assert.equal(Buffer.from(packet.payload).toString(), "hi");
    assert.equal(packet.payload.buffer, frame.buffer);
    const { correlationData, ...properties } = packet.properties!;
    assert.equal(Buffer.from(correlationData!).toString(), "id");
    assert.deepEqual(properties, {
      payloadFormatIndicator: true,
      messageExpiryInterval: 10,
      topicAlias: 3,
      responseTopic: "r",
      userProperties: pairs({ z: "1", a: "2" }),
      contentType: "ct",
    });
  });

  test("PUBLISH without properties and with an alias in place of the topic", () => {
    const plain = decode5(raw(0x30, ...str("t"), 0, 0x61)) as PublishPacket;
    assert.deepEqual(plain.properties, {});
    assert.equal(plain.packetIdOffset, -1);
    assert.deepEqual([...plain.payload], [0x61]);
    const aliased = decode5(raw(0x30, 0, 0, 3, 0x23, 0, 7)) as PublishPacket;
    assert.equal(aliased.topic, "");
    assert.equal(aliased.properties!.topicAlias, 7);
    assert.equal(aliased.payload.length, 0);
  });

  test("PUBLISH rule violations", () => {
    fails5(raw(0x30, 0, 0, 0), PROTOCOL_ERROR, /empty topic name without a topic alias/);
    fails5(raw(0x30, ...str("t"), 2, 0x0b, 1), PROTOCOL_ERROR, /subscription identifier/);
    fails5(raw(0x30, ...str("t"), 3, 0x23, 0, 0), TOPIC_ALIAS_INVALID, /topic alias 0/);
    fails5(raw(0x36, ...str("t"), 0, 1, 0), MALFORMED_PACKET, /QoS 3/);
    fails5(raw(0x38, ...str("t"), 0), PROTOCOL_ERROR, /DUP/);
    fails5(raw(0x30, ...str("a/#"), 0), PROTOCOL_ERROR, /wildcard/);
    fails5(raw(0x32, ...str("t"), 0, 0, 0), PROTOCOL_ERROR, /packet identifier 0/);
    fails5(raw(0x30, 0, 2, 0xc3, 0x28, 0), MALFORMED_PACKET, /not valid UTF-8/);
    fails5(raw(0x30, ...str("t")), MALFORMED_PACKET, /too short for property length/);
    fails5(raw(0x30, ...str("t"), 9, 0x23), MALFORMED_PACKET, /property length exceeds/);
    fails5(raw(0x30, ...str("t"), 2, 0x11, 0), MALFORMED_PACKET, /sessionExpiryInterval/);
  });

  test("acknowledgements: every form and every packet", () => {
    for (
      const [cmd, type] of [
        ["puback", PacketType.PUBACK],
        ["pubrec", PacketType.PUBREC],
        ["pubrel", PacketType.PUBREL],
        ["pubcomp", PacketType.PUBCOMP],
      ] as const
    ) {
      const reasonCode = type === PacketType.PUBREL || type === PacketType.PUBCOMP ? 0x92 : 0x10;
      const long = decode5(gen5({
        cmd,
        messageId: 513,
        reasonCode,
        properties: { reasonString: "why", userProperties: { k: "v" } },
      }));
      assert.deepEqual(long, {
        type,
        packetId: 513,
        reasonCode,
        properties: { reasonString: "why", userProperties: [["k", "v"]] },
      });
      const first = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
      assert.deepEqual(decode5(raw(first, 0, 9)), {
        type,
        packetId: 9,
        reasonCode: 0,
        properties: {},
      });
      assert.deepEqual(decode5(raw(first, 0, 9, reasonCode)), {
        type,
        packetId: 9,
        reasonCode,
        properties: {},
      });
      assert.deepEqual(decode5(raw(first, 0, 9, 0, 0)), {
        type,
        packetId: 9,
        reasonCode: 0,
        properties: {},
      });
    }
  });

  test("acknowledgement rule violations", () => {
    fails5(raw(0x40, 0, 1, 0x92), PROTOCOL_ERROR, /reason code 0x92 is not allowed in PUBACK/);
    fails5(raw(0x62, 0, 1, 0x10), PROTOCOL_ERROR, /reason code 0x10/);
    fails5(raw(0x40, 0, 1, 0x00, 0, 5), MALFORMED_PACKET, /trailing bytes/);
    fails5(raw(0x40, 0, 1, 0x00, 2, 0x23, 0), MALFORMED_PACKET, /topicAlias/);
    fails5(raw(0x60, 0, 1), MALFORMED_PACKET, /reserved flags/);
    fails5(raw(0x40, 0, 0), PROTOCOL_ERROR, /packet identifier 0/);
    fails5(raw(0x40, 0), MALFORMED_PACKET, /too short/);
  });

  test("SUBSCRIBE with subscription options and a subscription identifier", () => {
    const packet = decode5(gen5({
      cmd: "subscribe",
      messageId: 7,
      properties: { subscriptionIdentifier: 200000, userProperties: { s: "1" } },
      subscriptions: [
        { topic: "a/#", qos: 2, nl: true, rap: true, rh: 2 },
        { topic: "b", qos: 0, nl: false, rap: false, rh: 1 },
        { topic: "$share/g/c", qos: 1, rh: 0 },
      ],
    })) as SubscribePacket;
    assert.deepEqual(packet, {
      type: PacketType.SUBSCRIBE,
      packetId: 7,
      properties: { subscriptionIdentifier: 200000, userProperties: [["s", "1"]] },
      subscriptions: [
        { filter: "a/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { filter: "b", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
        {
          filter: "$share/g/c",
          qos: 1,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        },
      ],
    });
  });

  test("SUBSCRIBE rule violations", () => {
    const sub = (options: number, filter = "a") => raw(0x82, 0, 1, 0, ...str(filter), options);
    fails5(sub(0x40), MALFORMED_PACKET, /reserved subscription option bits/);
    fails5(sub(0x80), MALFORMED_PACKET, /reserved subscription option bits/);
    fails5(sub(0x03), PROTOCOL_ERROR, /maximum QoS 3/);
    fails5(sub(0x30), PROTOCOL_ERROR, /retain handling 3/);
    fails5(sub(0x04, "$share/g/a"), PROTOCOL_ERROR, /no local on a shared subscription/);
    fails5(raw(0x82, 0, 1, 0), PROTOCOL_ERROR, /without a topic filter/);
    fails5(raw(0x82, 0, 1, 2, 0x0b, 0), PROTOCOL_ERROR, /subscription identifier 0/);
    fails5(raw(0x82, 0, 1, 4, 0x0b, 1, 0x0b, 2), PROTOCOL_ERROR, /appears twice/);
    fails5(raw(0x82, 0, 1, 3, 0x23, 0, 1, ...str("a"), 0), MALFORMED_PACKET, /topicAlias/);
    fails5(raw(0x80, 0, 1, 0, ...str("a"), 0), MALFORMED_PACKET, /reserved flags/);
    fails5(raw(0x82, 0, 1, 0, ...str("a")), MALFORMED_PACKET, /subscription options/);
  });

  test("UNSUBSCRIBE with properties, and without a filter", () => {
    const packet = decode5(gen5({
      cmd: "unsubscribe",
      messageId: 9,
      unsubscriptions: ["x", "y/#"],
      properties: { userProperties: { u: "1" } },
    })) as UnsubscribePacket;
    assert.deepEqual(packet, {
      type: PacketType.UNSUBSCRIBE,
      packetId: 9,
      filters: ["x", "y/#"],
      properties: { userProperties: [["u", "1"]] },
    });
    fails5(raw(0xa2, 0, 1, 0), PROTOCOL_ERROR, /without a topic filter/);
    fails5(raw(0xa2, 0, 1, 2, 0x0b, 1, ...str("x")), MALFORMED_PACKET, /subscriptionIdentifier/);
  });

  test("PINGREQ and DISCONNECT in every form", () => {
    assert.deepEqual(decode5(raw(0xc0)), { type: PacketType.PINGREQ });
    fails5(raw(0xc0, 0), MALFORMED_PACKET, /PINGREQ with a body/);
    const empty: DisconnectPacket = { type: PacketType.DISCONNECT, reasonCode: 0, properties: {} };
    assert.deepEqual(decode5(raw(0xe0)), empty);
    assert.deepEqual(decode5(raw(0xe0, 4)), { ...empty, reasonCode: 4 });
    assert.deepEqual(
      decode5(gen5({
        cmd: "disconnect",
        reasonCode: 0x04,
        properties: { sessionExpiryInterval: 99, reasonString: "r", serverReference: "s" },
      })),
      {
        ...empty,
        reasonCode: 4,
        properties: { sessionExpiryInterval: 99, reasonString: "r", serverReference: "s" },
      },
    );
    fails5(raw(0xe0, 0x10), PROTOCOL_ERROR, /reason code 0x10/);
    fails5(raw(0xe0, 0, 2, 0x23, 0), MALFORMED_PACKET, /topicAlias/);
    fails5(raw(0xe0, 0, 0, 0), MALFORMED_PACKET, /trailing bytes/);
    fails5(raw(0xe2), MALFORMED_PACKET, /reserved flags/);
  });

  test("AUTH in every form", () => {
    const packet = decode5(gen5({
      cmd: "auth",
      reasonCode: 0x18,
      properties: {
        authenticationMethod: "SCRAM-SHA-256",
        authenticationData: Buffer.from("n,,n=user"),
        reasonString: "step",
      },
    })) as AuthPacket;
    assert.equal(packet.type, PacketType.AUTH);
    assert.equal(packet.reasonCode, 0x18);
    assert.equal(packet.properties.authenticationMethod, "SCRAM-SHA-256");
    assert.equal(Buffer.from(packet.properties.authenticationData!).toString(), "n,,n=user");
    assert.equal(packet.properties.reasonString, "step");
    assert.deepEqual(decode5(raw(0xf0)), { type: PacketType.AUTH, reasonCode: 0, properties: {} });
    fails5(raw(0xf0, 0x19), MALFORMED_PACKET, /without a property length/);
    fails5(raw(0xf0, 0x19, 0), PROTOCOL_ERROR, /without an authentication method/);
    fails5(raw(0xf0, 0x87, 4, 0x15, ...str("m")), PROTOCOL_ERROR, /reason code 0x87/);
    fails5(raw(0xf0, 0x18, 4, 0x16, 0, 1, 7), PROTOCOL_ERROR, /authentication data without/);
    fails5(raw(0xf1), MALFORMED_PACKET, /reserved flags/);
  });

  test("packets clients never send", () => {
    for (const type of [2, 9, 11, 13]) {
      fails5(raw(type << 4, 0, 0), PROTOCOL_ERROR, /not sent by clients/);
    }
    fails5(raw(0x00), MALFORMED_PACKET, /reserved packet type 0/);
  });

  test("3.1.1 decoding knows no AUTH and no properties", () => {
    assert.throws(() => decodePacket(raw(0xf0)), /not sent by clients/);
    const ack = decodePacket(raw(0x40, 0, 1)) as AckPacket;
    assert.deepEqual(ack, { type: PacketType.PUBACK, packetId: 1 });
  });
});
