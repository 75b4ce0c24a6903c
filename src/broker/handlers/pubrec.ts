/**
 * PUBREC: a QoS 2 message the broker sent is received; release it with PUBREL.
 *
 * @module
 */
import { encodeAck } from "../../protocol/encode.ts";
import { type AckPacket, PacketType } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** Handles PUBREC. */
export function handlePubrec(client: Client, packet: AckPacket): void {
  if (client.session!.received(packet.packetId)) {
    client.send(encodeAck(PacketType.PUBREL, packet.packetId));
  }
}
