/**
 * PUBCOMP: a QoS 2 message the broker sent is complete.
 *
 * @module
 */
import type { AckPacket } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** Handles PUBCOMP. */
export function handlePubcomp(client: Client, packet: AckPacket): void {
  client.session!.complete(packet.packetId, 2);
}
