/**
 * What `broker_client_disconnected` is told of a DISCONNECT a 5.0 client sent.
 *
 * @module
 */
import type { DisconnectPacket } from "../protocol/packets.ts";
import type { DisconnectDetails } from "../plugins/types.ts";

/** The details of a client's DISCONNECT: its reason code (0 when left out) and reason string. */
export function disconnectDetails(packet: DisconnectPacket): DisconnectDetails {
  const reasonString = packet.properties?.reasonString;
  const reasonCode = packet.reasonCode ?? 0;
  return reasonString === undefined
    ? { reasonCode, sentBy: "client" }
    : { reasonCode, sentBy: "client", reasonString };
}
