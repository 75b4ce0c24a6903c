import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodePacket } from "../../src/protocol/decode.ts";
import { encodeTopic } from "../../src/protocol/encode.ts";
import {
  encodeAck5,
  encodeAuth5,
  encodeConnack5,
  encodeDisconnect5,
  encodePublish5,
  encodeSuback5,
  encodeUnsuback5,
  type Publish5,
  publish5Length,
} from "../../src/protocol/encode5.ts";
import { PacketType, type PublishPacket } from "../../src/protocol/packets.ts";
import { encodeProperties } from "../../src/protocol/properties.ts";
import { parse5 } from "../helpers/mqtt5.ts";

/** The fields mqtt-packet parsed, without its bookkeeping. */
function parsed(bytes: Uint8Array): Record<string, unknown> {
  const { cmd: _cmd, retain: _r, qos: _q, dup: _d, length, topic: _t, payload: _p, ...rest } =
    parse5(bytes);
  assert.equal(length, bytes.length - 1 - (bytes[1] & 0x80 ? 2 : 1), "remaining length");
  return rest;
}

describe("MQTT 5 encoders", () => {
  test("CONNACK with every property the broker sends", () => {
    const bytes = encodeConnack5(0, true, {
      sessionExpiryInterval: 120,
      receiveMaximum: 100,
      maximumQos: 1,
      retainAvailable: true,
      maximumPacketSize: 268435460,
      assignedClientIdentifier: "auto-7f",
      topicAliasMaximum: 16,
      reasonString: "welcome",
      userProperties: [["node", "a"], ["node", "b"]],
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: true,
      serverKeepAlive: 600,
      responseInformation: "resp/",
      serverReference: "other",
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: Uint8Array.of(1, 2),
    });
    assert.deepEqual(parsed(bytes), {
      sessionPresent: true,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120,
        receiveMaximum: 100,
        maximumQoS: 1,
        retainAvailable: true,
        maximumPacketSize: 268435460,
        assignedClientIdentifier: "auto-7f",
        topicAliasMaximum: 16,
        reasonString: "welcome",
        userProperties: [["node", "a"], ["node", "b"]],
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true,
        serverKeepAlive: 600,
        responseInformation: "resp/",
        serverReference: "other",
        authenticationMethod: "SCRAM-SHA-256",
        authenticationData: Buffer.from([1, 2]),
      },
    });
  });

  test("CONNACK always has its property length", () => {
    assert.deepEqual([...encodeConnack5(0x87, false)], [0x20, 3, 0, 0x87, 0]);
    assert.deepEqual(parsed(encodeConnack5(0x86, false)), {
      sessionPresent: false,
      reasonCode: 0x86,
    });
  });

  test("acknowledgements take their shortest form", () => {
    assert.deepEqual([...encodeAck5(PacketType.PUBACK, 258)], [0x40, 2, 1, 2]);
    assert.deepEqual([...encodeAck5(PacketType.PUBREL, 3)], [0x62, 2, 0, 3]);
    assert.deepEqual([...encodeAck5(PacketType.PUBREC, 3, 0x10)], [0x50, 3, 0, 3, 0x10]);
    assert.deepEqual([...encodeAck5(PacketType.PUBCOMP, 3, 0x92, {})], [0x70, 3, 0, 3, 0x92]);
    for (
      const type of [PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP]
    ) {
      const bytes = encodeAck5(type, 65535, 0, { reasonString: "r", userProperties: [["a", "b"]] });
      assert.equal(bytes[0], (type << 4) | (type === PacketType.PUBREL ? 2 : 0));
      assert.deepEqual(parsed(bytes), {
        messageId: 65535,
        reasonCode: 0,
        properties: { reasonString: "r", userProperties: [["a", "b"]] },
      });
    }
  });

  test("SUBACK and UNSUBACK carry one reason code per filter and their properties", () => {
    const suback = encodeSuback5(10, [0, 1, 2, 0x80, 0x87, 0xa2], { reasonString: "partly" });
    assert.deepEqual(parsed(suback), {
      messageId: 10,
      granted: [0, 1, 2, 0x80, 0x87, 0xa2],
      properties: { reasonString: "partly" },
    });
    assert.deepEqual([...encodeSuback5(1, [1])], [0x90, 4, 0, 1, 0, 1]);
    const unsuback = encodeUnsuback5(11, [0, 0x11], { userProperties: [["x", "y"]] });
    assert.deepEqual(parsed(unsuback), {
      messageId: 11,
      granted: [0, 0x11],
      properties: { userProperties: [["x", "y"]] },
    });
    assert.deepEqual([...encodeUnsuback5(2, [0x11])], [0xb0, 4, 0, 2, 0, 0x11]);
  });

  test("DISCONNECT and AUTH in their short and long forms", () => {
    assert.deepEqual([...encodeDisconnect5()], [0xe0, 0]);
    assert.deepEqual([...encodeDisconnect5(0x8e)], [0xe0, 1, 0x8e]);
    assert.deepEqual(
      parsed(encodeDisconnect5(0x9c, { serverReference: "b:1883", reasonString: "move" })),
      { reasonCode: 0x9c, properties: { serverReference: "b:1883", reasonString: "move" } },
    );
    assert.deepEqual([...encodeAuth5()], [0xf0, 0]);
    assert.deepEqual([...encodeAuth5(0x18)], [0xf0, 2, 0x18, 0]);
    assert.deepEqual(
      parsed(
        encodeAuth5(0x18, { authenticationMethod: "m", authenticationData: Uint8Array.of(5) }),
      ),
      {
        reasonCode: 0x18,
        properties: { authenticationMethod: "m", authenticationData: Buffer.from([5]) },
      },
    );
  });

  test("PUBLISH: shared property block, per-subscriber identifiers and alias", () => {
    const block = encodeProperties({
      payloadFormatIndicator: true,
      messageExpiryInterval: 59,
      contentType: "application/json",
      responseTopic: "re/q",
      correlationData: Uint8Array.of(7, 7),
      userProperties: [["b", "2"], ["a", "1"], ["b", "3"]],
    });
    const base: Publish5 = {
      topic: encodeTopic("t/ü"),
      payload: Buffer.from("{}"),
      qos: 1,
      retain: true,
      packetId: 4660,
      properties: block,
    };
    const messageProperties = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 59,
      contentType: "application/json",
      responseTopic: "re/q",
      correlationData: Buffer.from([7, 7]),
      // mqtt-packet groups user properties by name.
      userProperties: [["b", "2"], ["b", "3"], ["a", "1"]],
    };
    for (
      const variant of [
        {},
        { subscriptionIdentifiers: [5] },
        { subscriptionIdentifiers: [1, 128, 268435455], topicAlias: 9 },
        { topicAlias: 65535, dup: true },
      ] as Partial<Publish5>[]
    ) {
      const fields = { ...base, ...variant };
      const { bytes, packetIdOffset } = encodePublish5(fields);
      assert.equal(bytes.length, publish5Length(fields));
      assert.equal((bytes[packetIdOffset] << 8) | bytes[packetIdOffset + 1], 4660);
      const packet = parse5(bytes);
      assert.equal(packet.topic, "t/ü");
      assert.equal(packet.qos, 1);
      assert.equal(packet.retain, true);
      assert.equal(packet.dup, variant.dup ?? false);
      assert.equal(packet.messageId, 4660);
      assert.equal(String(packet.payload), "{}");
      const ids = variant.subscriptionIdentifiers;
      assert.deepEqual(packet.properties, {
        ...messageProperties,
        ...(ids && { subscriptionIdentifier: ids.length === 1 ? ids[0] : ids }),
        ...(variant.topicAlias && { topicAlias: variant.topicAlias }),
      });
    }
  });

  test("PUBLISH template: QoS 0 has no identifier, QoS 1 leaves it zero to patch", () => {
    const topic = encodeTopic("a");
    const qos0 = encodePublish5({ topic, payload: Uint8Array.of(1), qos: 0, retain: false });
    assert.equal(qos0.packetIdOffset, -1);
    assert.deepEqual([...qos0.bytes], [0x30, 5, 0, 1, 0x61, 0, 1]);
    const qos1 = encodePublish5({ topic, payload: Uint8Array.of(1), qos: 1, retain: false });
    assert.deepEqual([...qos1.bytes], [0x32, 7, 0, 1, 0x61, 0, 0, 0, 1]);
    assert.equal(qos1.packetIdOffset, 5);
  });

  test("PUBLISH by alias alone, decoded back by our own 5.0 decoder", () => {
    const { bytes } = encodePublish5({
      topic: new Uint8Array(0),
      payload: Uint8Array.of(9, 9),
      qos: 2,
      retain: false,
      packetId: 1,
      topicAlias: 4,
      properties: encodeProperties({ userProperties: [["k", "v"]] }),
    });
    const packet = decodePacket(bytes, 5) as PublishPacket;
    assert.equal(packet.topic, "");
    assert.equal(packet.qos, 2);
    assert.deepEqual(packet.properties, { userProperties: [["k", "v"]], topicAlias: 4 });
    assert.deepEqual([...packet.payload], [9, 9]);
  });

  test("publish5Length is exact across remaining-length boundaries", () => {
    const topic = encodeTopic("x");
    for (const size of [0, 100, 118, 119, 120, 16370, 16379, 16380, 16381, 2097140, 2097200]) {
      for (const subscriptionIdentifiers of [undefined, [200, 3]]) {
        const fields: Publish5 = {
          topic,
          payload: new Uint8Array(size),
          qos: 1,
          retain: false,
          subscriptionIdentifiers,
        };
        const { bytes } = encodePublish5(fields);
        assert.equal(publish5Length(fields), bytes.length, `payload ${size}`);
        assert.equal((parse5(bytes).payload as Buffer).length, size);
      }
    }
  });

  test("PUBLISH fields out of range are refused", () => {
    const base: Publish5 = {
      topic: encodeTopic("a"),
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
    };
    assert.throws(
      () => encodePublish5({ ...base, topic: new Uint8Array(0) }),
      /needs a topic alias/,
    );
    assert.throws(() => encodePublish5({ ...base, topicAlias: 0 }), RangeError);
    assert.throws(() => encodePublish5({ ...base, topicAlias: 65536 }), RangeError);
    assert.throws(() => encodePublish5({ ...base, subscriptionIdentifiers: [0] }), RangeError);
    assert.throws(
      () => publish5Length({ ...base, subscriptionIdentifiers: [268435456] }),
      RangeError,
    );
  });
});
