/**
 * MQTT 5.0 test helpers: mqtt-packet as the oracle (generate and parse with protocol version 5),
 * conversions between its property shapes and ours, and an assertion on ProtocolError codes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import { ProtocolError } from "../../src/protocol/packets.ts";
import type { Packet, RawClient } from "./broker.ts";

/** A packet as mqtt-packet writes and reads it. */
export type OraclePacket = Record<string, unknown>;

/** Encodes with mqtt-packet, protocol version 5. */
export function gen5(packet: OraclePacket): Uint8Array {
  return new Uint8Array(
    mqttPacket.generate(packet as unknown as mqttPacket.Packet, { protocolVersion: 5 }),
  );
}

/**
 * Decodes one whole packet with mqtt-packet, protocol version 5; throws on its errors. User
 * properties come as our pairs (grouped by name, as mqtt-packet keeps them).
 */
export function parse5(bytes: Uint8Array): OraclePacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: OraclePacket[] = [];
  let error: Error | undefined;
  parser.on("packet", (p: unknown) => packets.push(p as OraclePacket));
  parser.on("error", (e: Error) => error = e);
  parser.parse(Buffer.from(bytes));
  if (error) throw error;
  assert.equal(packets.length, 1, "one whole packet");
  const properties = packets[0].properties as OraclePacket | undefined;
  if (properties?.userProperties) {
    properties.userProperties = pairs(properties.userProperties as Record<string, string[]>);
  }
  return packets[0];
}

/** mqtt-packet's user properties (`{ name: value | values }`) as ours, in its order. */
export function pairs(props: Record<string, string | string[]>): [string, string][] {
  return Object.entries(props).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, v])
  );
}

/** Asserts that `fn` throws a ProtocolError with reason `code` and a message matching `pattern`. */
export function failsWith(fn: () => unknown, code: number, pattern: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
    assert.match(e.message, pattern);
    assert.equal(e.code, code, `reason code of "${e.message}"`);
    return true;
  });
}

/** Bytes of a whole packet: first byte, remaining length (< 128), then `body`. */
export function raw(first: number, ...body: number[]): Uint8Array {
  assert.ok(body.length < 128);
  return Uint8Array.of(first, body.length, ...body);
}

/** A UTF-8 string field: two length bytes, then the bytes. */
export function str(text: string): number[] {
  const bytes = new TextEncoder().encode(text);
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

/**
 * Waits for a DISCONNECT from the broker, then for the close; resolves with the DISCONNECT (its
 * `reasonCode`, and `properties` if any).
 */
export async function brokerDisconnect(c: RawClient, ms = 5000): Promise<Packet> {
  const disconnect = await c.next("disconnect", ms);
  await c.waitClosed();
  return disconnect;
}
