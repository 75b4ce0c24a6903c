/**
 * DISCONNECT: a clean end. The will is discarded, unless a 5.0 client gives any reason but
 * normal disconnection (0x04 "disconnect with will message" asks for it outright).
 *
 * @module
 */
import type { DisconnectPacket } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";
import { disconnectDetails } from "../disconnect_details.ts";

/** Handles DISCONNECT. */
export function handleDisconnect(client: Client, packet: DisconnectPacket): void {
  if (!packet.reasonCode) client.session!.will = undefined;
  if (client.codec.v5) client.disconnectDetails = disconnectDetails(packet);
  client.close("disconnect");
}
