import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { PacketType } from "../../src/protocol/packets.ts";
import {
  decodeProperties,
  encodeProperties,
  type Properties,
  propertiesLength,
  type PropertyContext,
  WILL_PROPERTIES,
} from "../../src/protocol/properties.ts";
import { Reader } from "../../src/protocol/reader.ts";
import { ReasonCode } from "../../src/protocol/reason.ts";
import { failsWith, gen5, pairs } from "../helpers/mqtt5.ts";

const { MALFORMED_PACKET, PROTOCOL_ERROR, TOPIC_ALIAS_INVALID } = ReasonCode;

/** Decodes `body` (properties without their length) as a block in `context`. */
function decode(body: readonly number[], context: PropertyContext): Properties {
  const bytes = Uint8Array.of(body.length, ...body);
  const reader = new Reader(bytes, 0);
  const props = decodeProperties(reader, context);
  assert.equal(reader.pos, bytes.length);
  return props;
}

/** Encodes then decodes, checking the length function on the way. */
function roundTrip(props: Properties, context: PropertyContext): Properties {
  const block = encodeProperties(props);
  assert.equal(block.length, propertiesLength(props));
  return decode([...block], context);
}

describe("MQTT 5 properties", () => {
  test("every CONNACK property that mqtt-packet writes is read back", () => {
    const frame = gen5({
      cmd: "connack",
      reasonCode: 0,
      sessionPresent: false,
      properties: {
        sessionExpiryInterval: 0xffffffff,
        receiveMaximum: 20,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 1048576,
        assignedClientIdentifier: "auto-1",
        topicAliasMaximum: 10,
        reasonString: "ok",
        userProperties: { a: ["1", "2"], b: "3" },
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: true,
        sharedSubscriptionAvailable: false,
        serverKeepAlive: 60,
        responseInformation: "resp/",
        serverReference: "other:1883",
        authenticationMethod: "SCRAM-SHA-256",
        authenticationData: Buffer.from([1, 2, 3]),
      },
    });
    // Fixed header (remaining length < 128), flags, reason code, then the property block.
    assert.ok(frame[1] < 128);
    const props = decodeProperties(new Reader(frame, 4), PacketType.CONNACK);
    assert.deepEqual({ ...props, authenticationData: [...props.authenticationData!] }, {
      sessionExpiryInterval: 0xffffffff,
      receiveMaximum: 20,
      maximumQos: 1,
      retainAvailable: false,
      maximumPacketSize: 1048576,
      assignedClientIdentifier: "auto-1",
      topicAliasMaximum: 10,
      reasonString: "ok",
      userProperties: pairs({ a: ["1", "2"], b: "3" }),
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: false,
      serverKeepAlive: 60,
      responseInformation: "resp/",
      serverReference: "other:1883",
      authenticationMethod: "SCRAM-SHA-256",
      authenticationData: [1, 2, 3],
    });
  });

  test("every property round-trips in a packet that allows it", () => {
    const message: Properties = {
      payloadFormatIndicator: true,
      messageExpiryInterval: 3600,
      contentType: "application/json; charset=utf-8 ✓",
      responseTopic: "réponse/𝄞",
      correlationData: Uint8Array.of(0, 255, 7),
      userProperties: [["k", "v"], ["é", "𝄞"], ["k", "second"]],
    };
    assert.deepEqual(roundTrip(message, WILL_PROPERTIES), message);
    const publish = {
      ...message,
      topicAlias: 65535,
      subscriptionIdentifier: [1, 127, 128, 268435455],
    };
    assert.deepEqual(roundTrip(publish, PacketType.PUBLISH), publish);
    assert.deepEqual(roundTrip({ willDelayInterval: 30 }, WILL_PROPERTIES), {
      willDelayInterval: 30,
    });
    const connect: Properties = {
      sessionExpiryInterval: 0,
      receiveMaximum: 1,
      maximumPacketSize: 0xffffffff,
      topicAliasMaximum: 0,
      requestResponseInformation: true,
      requestProblemInformation: false,
      authenticationMethod: "m",
      authenticationData: new Uint8Array(0),
      userProperties: [["", ""]],
    };
    assert.deepEqual(roundTrip(connect, PacketType.CONNECT), connect);
    assert.deepEqual(roundTrip({ subscriptionIdentifier: 16384 }, PacketType.SUBSCRIBE), {
      subscriptionIdentifier: 16384,
    });
    const disconnect: Properties = {
      sessionExpiryInterval: 10,
      reasonString: "bye",
      serverReference: "elsewhere",
    };
    assert.deepEqual(roundTrip(disconnect, PacketType.DISCONNECT), disconnect);
    for (const type of [PacketType.PUBACK, PacketType.SUBACK, PacketType.AUTH]) {
      assert.deepEqual(roundTrip({ reasonString: "why" }, type), { reasonString: "why" });
    }
  });

  test("binary values are views into the packet, not copies", () => {
    const bytes = Uint8Array.of(4, 0x09, 0, 1, 42);
    const props = decodeProperties(new Reader(bytes, 0), PacketType.PUBLISH);
    assert.equal(props.correlationData!.buffer, bytes.buffer);
  });

  test("a property that may appear once appears once", () => {
    failsWith(
      () => decode([0x23, 0, 1, 0x23, 0, 2], PacketType.PUBLISH),
      PROTOCOL_ERROR,
      /topicAlias appears twice/,
    );
    failsWith(
      () => decode([0x0b, 1, 0x0b, 2], PacketType.SUBSCRIBE),
      PROTOCOL_ERROR,
      /subscriptionIdentifier appears twice/,
    );
    failsWith(
      () => decode([0x1f, ...[0, 1, 0x61], 0x1f, ...[0, 1, 0x62]], PacketType.PUBACK),
      PROTOCOL_ERROR,
      /reasonString appears twice/,
    );
    failsWith(
      () => decode([0x01, 0, 0x01, 1], WILL_PROPERTIES),
      PROTOCOL_ERROR,
      /payloadFormatIndicator appears twice/,
    );
  });

  test("a property outside the packets that allow it is malformed", () => {
    const cases: [number[], PropertyContext, RegExp][] = [
      [[0x23, 0, 1], PacketType.CONNECT, /topicAlias is not allowed in CONNECT/],
      [[0x24, 1], PacketType.CONNECT, /maximumQos/],
      [[0x18, 0, 0, 0, 1], PacketType.CONNECT, /willDelayInterval/],
      [[0x11, 0, 0, 0, 1], WILL_PROPERTIES, /sessionExpiryInterval is not allowed in will/],
      [[0x0b, 1], WILL_PROPERTIES, /subscriptionIdentifier/],
      [[0x1f, 0, 0], PacketType.PUBLISH, /reasonString/],
      [[0x1f, 0, 0], PacketType.CONNECT, /reasonString/],
      [[0x15, 0, 1, 0x6d], PacketType.DISCONNECT, /authenticationMethod/],
      [[0x1c, 0, 0], PacketType.PUBACK, /serverReference/],
      [[0x26, 0, 0, 0, 0], PacketType.PINGREQ, /userProperties/],
    ];
    for (const [body, context, name] of cases) {
      failsWith(() => decode(body, context), MALFORMED_PACKET, name);
    }
    failsWith(
      () => decode([0x04, 0], PacketType.PUBLISH),
      MALFORMED_PACKET,
      /unknown property 0x4/,
    );
    failsWith(() => decode([0x7f, 0], PacketType.PUBLISH), MALFORMED_PACKET, /unknown property/);
  });

  test("values the standard forbids", () => {
    const cases: [number[], PropertyContext, number, RegExp][] = [
      [[0x01, 2], PacketType.PUBLISH, PROTOCOL_ERROR, /payloadFormatIndicator is 2/],
      [[0x17, 2], PacketType.CONNECT, PROTOCOL_ERROR, /requestProblemInformation/],
      [[0x19, 0xff], PacketType.CONNECT, PROTOCOL_ERROR, /requestResponseInformation/],
      [[0x21, 0, 0], PacketType.CONNECT, PROTOCOL_ERROR, /receiveMaximum 0/],
      [[0x27, 0, 0, 0, 0], PacketType.CONNECT, PROTOCOL_ERROR, /maximumPacketSize 0/],
      [[0x23, 0, 0], PacketType.PUBLISH, TOPIC_ALIAS_INVALID, /topic alias 0/],
      [[0x0b, 0], PacketType.SUBSCRIBE, PROTOCOL_ERROR, /subscription identifier 0/],
      [[0x24, 2], PacketType.CONNACK, PROTOCOL_ERROR, /maximumQos 2/],
      [[0x25, 3], PacketType.CONNACK, PROTOCOL_ERROR, /retainAvailable/],
      [[0x08, 0, 3, 0x61, 0x2f, 0x23], PacketType.PUBLISH, PROTOCOL_ERROR, /response topic/],
      [[0x08, 0, 1, 0x2b], WILL_PROPERTIES, PROTOCOL_ERROR, /response topic/],
      [[0x08, 0, 0], PacketType.PUBLISH, PROTOCOL_ERROR, /response topic/],
      [[0x16, 0, 1, 9], PacketType.CONNECT, PROTOCOL_ERROR, /authentication data without/],
      [[0x03, 0, 2, 0xc3, 0x28], PacketType.PUBLISH, MALFORMED_PACKET, /not valid UTF-8/],
      [[0x26, 0, 1, 0x61, 0, 1, 0x00], PacketType.PUBLISH, MALFORMED_PACKET, /U\+0000/],
      [[0x26, 0, 1, 0xff, 0, 0], PacketType.PUBLISH, MALFORMED_PACKET, /not valid UTF-8/],
    ];
    for (const [body, context, code, pattern] of cases) {
      failsWith(() => decode(body, context), code, pattern);
    }
  });

  test("lengths that do not add up are malformed", () => {
    const read = (bytes: number[], context: PropertyContext = PacketType.PUBLISH) =>
      decodeProperties(new Reader(Uint8Array.from(bytes), 0), context);
    failsWith(() => read([5, 0x23, 0, 1]), MALFORMED_PACKET, /property length exceeds/);
    failsWith(() => read([2, 0x23, 0, 1]), MALFORMED_PACKET, /runs past the property length/);
    failsWith(() => read([3, 0x03, 0, 9, 0x61]), MALFORMED_PACKET, /too short for contentType/);
    failsWith(() => read([]), MALFORMED_PACKET, /too short for property length/);
    failsWith(() => read([0x80]), MALFORMED_PACKET, /too short for property length/);
    failsWith(() => read([0x80, 0x80, 0x80, 0x80, 0x01]), MALFORMED_PACKET, /longer than four/);
    failsWith(() => read([0x81, 0x00]), MALFORMED_PACKET, /not minimally encoded/);
    failsWith(() => read([3, 0x0b, 0x80, 0x00]), MALFORMED_PACKET, /not minimally encoded/);
    failsWith(() => read([2, 0x0b, 0x80]), MALFORMED_PACKET, /runs past|too short/);
  });

  test("an empty block and a block of zero length are both no properties", () => {
    assert.deepEqual(decode([], PacketType.PUBLISH), {});
    assert.equal(encodeProperties({}).length, 0);
    assert.equal(propertiesLength({ contentType: undefined }), 0);
  });

  test("lengths count UTF-8 bytes, surrogate pairs as four and lone surrogates as three", () => {
    for (const text of ["", "a", "é", "✓", "𝄞", "a\ud800b", "\udc00", "\ud800"]) {
      const expected = new TextEncoder().encode(text).length;
      assert.equal(propertiesLength({ contentType: text }), 3 + expected, JSON.stringify(text));
      assert.equal(encodeProperties({ contentType: text }).length, 3 + expected);
    }
  });

  test("values that do not fit their type are refused at encoding", () => {
    const tooLong = "x".repeat(65536);
    assert.throws(() => encodeProperties({ reasonString: tooLong }), RangeError);
    assert.throws(() => encodeProperties({ userProperties: [["a", tooLong]] }), RangeError);
    assert.throws(() => encodeProperties({ correlationData: new Uint8Array(65536) }), RangeError);
    assert.throws(() => encodeProperties({ receiveMaximum: 65536 }), RangeError);
    assert.throws(() => encodeProperties({ sessionExpiryInterval: -1 }), RangeError);
    assert.throws(() => encodeProperties({ messageExpiryInterval: 1.5 }), RangeError);
    assert.throws(() => encodeProperties({ subscriptionIdentifier: 268435456 }), RangeError);
    assert.throws(() => encodeProperties({ maximumQos: 2 as 1 }), RangeError);
    assert.throws(() => encodeProperties({ bogus: 1 } as Properties), /unknown property bogus/);
    assert.equal(encodeProperties({ reasonString: "x".repeat(65535) }).length, 65538);
  });
});
