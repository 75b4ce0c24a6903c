/**
 * PUBREL: the client releases a QoS 2 message it sent; its packet identifier may be reused.
 *
 * @module
 */
import { encodeAck } from "../../protocol/encode.ts";
import { type AckPacket, PacketType } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** Handles PUBREL; PUBCOMP goes back even for an unknown identifier, as the standard asks. */
export function handlePubrel(client: Client, packet: AckPacket): void {
  client.session!.awaitingRelease.delete(packet.packetId);
  client.send(encodeAck(PacketType.PUBCOMP, packet.packetId));
}
