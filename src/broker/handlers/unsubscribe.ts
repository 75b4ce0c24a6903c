/**
 * UNSUBSCRIBE: remove each filter the session has; UNSUBACK in every case.
 *
 * @module
 */
import { encodeUnsuback } from "../../protocol/encode.ts";
import type { UnsubscribePacket } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";

/** Handles UNSUBSCRIBE. */
export function handleUnsubscribe(client: Client, packet: UnsubscribePacket): void {
  for (const filter of packet.filters) client.broker.unsubscribe(client, filter);
  client.send(encodeUnsuback(packet.packetId));
}
