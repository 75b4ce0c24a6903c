import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PacketType, ProtocolError, protocolError } from "../../src/protocol/packets.ts";
import {
  connackReturnCodeV4,
  reasonAllowed,
  ReasonCode,
  reasonName,
} from "../../src/protocol/reason.ts";

describe("MQTT 5 reason codes", () => {
  test("every code of the standard has a constant and a name", () => {
    const values = new Set<number>(Object.values(ReasonCode));
    assert.equal(values.size, 43);
    for (const code of values) assert.doesNotMatch(reasonName(code), /unknown/);
    assert.equal(ReasonCode.NORMAL_DISCONNECTION, ReasonCode.SUCCESS);
    assert.equal(ReasonCode.GRANTED_QOS_0, 0);
    assert.equal(ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED, 0xa2);
  });

  test("names for log lines", () => {
    assert.equal(reasonName(0x00), "success");
    assert.equal(reasonName(0x87), "not authorized");
    assert.equal(reasonName(0x8e), "session taken over");
    assert.equal(reasonName(0x9b), "qos not supported");
    assert.equal(reasonName(0x03), "unknown reason 0x03");
    assert.equal(reasonName(0xff), "unknown reason 0xff");
  });

  test("which packets may carry which codes", () => {
    assert.ok(reasonAllowed(PacketType.PUBACK, 0x10));
    assert.ok(!reasonAllowed(PacketType.PUBREL, 0x10));
    assert.ok(reasonAllowed(PacketType.PUBCOMP, 0x92));
    assert.ok(reasonAllowed(PacketType.DISCONNECT, 0x04));
    assert.ok(!reasonAllowed(PacketType.DISCONNECT, 0x01));
    assert.ok(reasonAllowed(PacketType.SUBACK, 0x02));
    assert.ok(reasonAllowed(PacketType.UNSUBACK, 0x11));
    assert.ok(reasonAllowed(PacketType.AUTH, 0x19));
    assert.ok(!reasonAllowed(PacketType.AUTH, 0x87));
    assert.ok(reasonAllowed(PacketType.CONNACK, 0x8c));
    assert.ok(!reasonAllowed(PacketType.PUBLISH, 0));
  });

  test("5.0 CONNACK refusals read as 3.1.1 return codes", () => {
    assert.equal(connackReturnCodeV4(0x00), 0);
    assert.equal(connackReturnCodeV4(0x84), 1);
    assert.equal(connackReturnCodeV4(0x85), 2);
    assert.equal(connackReturnCodeV4(0x88), 3);
    assert.equal(connackReturnCodeV4(0x89), 3);
    assert.equal(connackReturnCodeV4(0x86), 4);
    assert.equal(connackReturnCodeV4(0x87), 5);
    assert.equal(connackReturnCodeV4(0x8a), 5);
    assert.equal(connackReturnCodeV4(0x8c), 5);
    for (const code of [0x80, 0x83, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]) {
      assert.equal(connackReturnCodeV4(code), 3, reasonName(code));
    }
    assert.equal(connackReturnCodeV4(0x81), undefined);
    assert.equal(connackReturnCodeV4(0x82), undefined);
    assert.throws(() => connackReturnCodeV4(0x10), RangeError);
    assert.throws(() => connackReturnCodeV4(0x8e), /not a CONNACK reason code/);
  });

  test("ProtocolError carries a reason code, malformed packet unless told otherwise", () => {
    const plain = new ProtocolError("bad");
    assert.equal(plain.code, ReasonCode.MALFORMED_PACKET);
    assert.equal(plain.message, "bad");
    assert.equal(plain.name, "ProtocolError");
    assert.ok(plain instanceof Error);
    assert.equal(new ProtocolError("big", ReasonCode.PACKET_TOO_LARGE).code, 0x95);
    const rule = protocolError("rule");
    assert.ok(rule instanceof ProtocolError);
    assert.equal(rule.code, ReasonCode.PROTOCOL_ERROR);
  });
});
