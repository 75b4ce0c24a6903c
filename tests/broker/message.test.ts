import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RoutedMessage } from "../../src/broker/message.ts";
import { decodePacket } from "../../src/protocol/decode.ts";
import { encodePublish, encodeTopic } from "../../src/protocol/encode.ts";
import { encodePublish5 } from "../../src/protocol/encode5.ts";
import type { PublishPacket } from "../../src/protocol/packets.ts";
import { encodeProperties, type Properties } from "../../src/protocol/properties.ts";

const payload = new TextEncoder().encode("hello");

/** A PUBLISH as a client of `version` sends it, decoded as the broker decodes it. */
function received(version: 4 | 5, properties?: Properties): PublishPacket {
  const topic = encodeTopic("t/x");
  const { bytes } = version === 4 ? encodePublish(topic, payload, 1, false) : encodePublish5({
    topic,
    payload,
    qos: 1,
    retain: false,
    packetId: 7,
    properties: properties && encodeProperties(properties),
  });
  if (version === 4) bytes[bytes.length - payload.length - 1] = 7;
  return decodePacket(bytes, version) as PublishPacket;
}

describe("RoutedMessage encodings: one per wire form", () => {
  test("cached per protocol, QoS and retain; MQTT 3.1 and 3.1.1 share theirs", () => {
    const m = new RoutedMessage("t", payload, 2, false, { contentType: "x" });
    assert.equal(m.template(4, 1, false), m.template(4, 1, false));
    assert.equal(m.template(3, 1, false), m.template(4, 1, false));
    assert.equal(m.template(5, 1, false), m.template(5, 1, false));
    assert.notEqual(m.template(5, 1, false), m.template(4, 1, false));
    assert.notEqual(m.template(5, 1, true), m.template(5, 1, false));
    const four = decodePacket(m.encode(4, 1, false, 3), 4) as PublishPacket;
    assert.equal(four.properties, undefined);
    assert.equal(four.packetId, 3);
    const five = decodePacket(m.encode(5, 1, false, 3), 5) as PublishPacket;
    assert.deepEqual(five.properties, { contentType: "x" });
    assert.equal(five.packetId, 3);
  });

  test("a received frame is reused for its own protocol only", () => {
    const from4 = received(4);
    const m4 = RoutedMessage.fromPublish(from4, 4);
    assert.equal(m4.template(4, 1, false).bytes, from4.frame);
    assert.notEqual(m4.template(5, 1, false).bytes, from4.frame);
    assert.deepEqual((decodePacket(m4.encode(5, 1, false, 1), 5) as PublishPacket).properties, {});

    const from5 = received(5, { userProperties: [["a", "1"], ["b", "2"], ["a", "3"]] });
    const m5 = RoutedMessage.fromPublish(from5, 5);
    assert.equal(m5.template(5, 1, false).bytes, from5.frame);
    assert.notEqual(m5.template(4, 1, false).bytes, from5.frame);
    const four = decodePacket(m5.encode(4, 1, false, 1), 4) as PublishPacket;
    assert.equal(new TextDecoder().decode(four.payload), "hello");
  });

  test("what is not the subscriber's is not forwarded: topic alias, will delay", () => {
    const aliased = received(5, { topicAlias: 1, contentType: "c" });
    const m = RoutedMessage.fromPublish(aliased, 5);
    assert.notEqual(m.template(5, 1, false).bytes, aliased.frame);
    const out = decodePacket(m.encode(5, 1, false, 1), 5) as PublishPacket;
    assert.deepEqual(out.properties, { contentType: "c" });

    const will = new RoutedMessage("w", payload, 0, false, {
      willDelayInterval: 5,
      responseTopic: "r",
    });
    const sent = decodePacket(will.encode(5, 0, false, 0), 5) as PublishPacket;
    assert.deepEqual(sent.properties, { responseTopic: "r" });
  });
});
