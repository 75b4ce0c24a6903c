/**
 * PUBACK: a QoS 1 message the broker sent is delivered.
 *
 * @module
 */
import type { AckPacket } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** Handles PUBACK. */
export function handlePuback(client: Client, packet: AckPacket): void {
  client.session!.complete(packet.packetId, 1);
}
