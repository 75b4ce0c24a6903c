/**
 * UNSUBSCRIBE: a malformed filter closes the connection; otherwise remove each filter the session
 * has, and UNSUBACK whether it had them or not (5.0 says which: 0x00, or 0x11 for none).
 *
 * @module
 */
import { ProtocolError, type UnsubscribePacket } from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import { subscriptionFilterError } from "../../protocol/topic.ts";
import type { Client } from "../client.ts";

/** Handles UNSUBSCRIBE; a malformed filter is a protocol violation (MQTT 3.1.1 4.8.0-1). */
export function handleUnsubscribe(client: Client, packet: UnsubscribePacket): void {
  for (const filter of packet.filters) {
    const error = subscriptionFilterError(filter);
    if (error) throw new ProtocolError(`UNSUBSCRIBE from ${JSON.stringify(filter)}: ${error}`);
  }
  const codes = packet.filters.map((filter) =>
    client.broker.unsubscribe(client, filter)
      ? ReasonCode.SUCCESS
      : ReasonCode.NO_SUBSCRIPTION_EXISTED
  );
  client.send(client.codec.unsuback(packet.packetId, codes));
}
