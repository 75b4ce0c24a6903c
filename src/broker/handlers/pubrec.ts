/**
 * PUBREC: a QoS 2 message the broker sent is received; release it with PUBREL. A 5.0 client that
 * refuses it (reason code 0x80 or above) ends its flow there, without PUBREL (MQTT 5.0 4.3.3).
 *
 * @module
 */
import { type AckPacket, PacketType } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** The first reason code that means failure. */
const FAILURE = 0x80;

/** Handles PUBREC. */
export function handlePubrec(client: Client, packet: AckPacket): void {
  const session = client.session!;
  if (!session.received(packet.packetId)) return;
  if ((packet.reasonCode ?? 0) >= FAILURE) session.complete(packet.packetId, 2);
  else client.send(client.codec.ack(PacketType.PUBREL, packet.packetId));
}
