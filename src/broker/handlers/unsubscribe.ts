/**
 * UNSUBSCRIBE: a malformed filter closes the connection; otherwise remove each filter the session
 * has, and UNSUBACK whether it had them or not.
 *
 * @module
 */
import { encodeUnsuback } from "../../protocol/encode.ts";
import { ProtocolError, type UnsubscribePacket } from "../../protocol/packets.ts";
import { topicFilterError } from "../../protocol/topic.ts";
import type { Client } from "../client.ts";

/** Handles UNSUBSCRIBE; a malformed filter is a protocol violation (MQTT 3.1.1 4.8.0-1). */
export function handleUnsubscribe(client: Client, packet: UnsubscribePacket): void {
  for (const filter of packet.filters) {
    const error = topicFilterError(filter);
    if (error) throw new ProtocolError(`UNSUBSCRIBE from ${JSON.stringify(filter)}: ${error}`);
  }
  for (const filter of packet.filters) client.broker.unsubscribe(client, filter);
  client.send(encodeUnsuback(packet.packetId));
}
