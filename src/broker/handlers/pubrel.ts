/**
 * PUBREL: the client releases a QoS 2 message it sent; its packet identifier may be reused.
 *
 * @module
 */
import { type AckPacket, PacketType } from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import type { Client } from "../client.ts";

/**
 * Handles PUBREL; PUBCOMP goes back even for an unknown identifier, as the standard asks (in
 * 5.0 with 0x92, packet identifier not found).
 */
export function handlePubrel(client: Client, packet: AckPacket): void {
  const known = client.session!.release(packet.packetId);
  const code = known ? ReasonCode.SUCCESS : ReasonCode.PACKET_IDENTIFIER_NOT_FOUND;
  client.send(client.codec.ack(PacketType.PUBCOMP, packet.packetId, code));
}
