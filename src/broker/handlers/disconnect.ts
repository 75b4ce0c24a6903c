/**
 * DISCONNECT: a clean end. The will is discarded, unless a 5.0 client gives any reason but
 * normal disconnection (0x04 "disconnect with will message" asks for it outright; 3.1.2.5,
 * 3.14.2.1). A 5.0 client may change its session expiry interval on the way out (3.14.2.2.2).
 *
 * @module
 */
import type { DisconnectPacket } from "../../protocol/packets.ts";
import { protocolError } from "../../protocol/packets.ts";
import type { Client } from "../client.ts";
import { disconnectDetails } from "../disconnect_details.ts";
import { sessionExpiryMs } from "../session.ts";

/**
 * Handles DISCONNECT. A new session expiry interval is capped by `max-session-expiry` as the
 * CONNECT's was; one that turns a CONNECT's 0 into more is a protocol error (3.14.2.2.2), which
 * makes the DISCONNECT invalid: the connection closes with 0x82 and the will is published.
 */
export function handleDisconnect(client: Client, packet: DisconnectPacket): void {
  const session = client.session!;
  const interval = packet.properties?.sessionExpiryInterval;
  if (interval !== undefined) {
    if (session.expiryMs === 0 && interval !== 0) {
      throw protocolError("DISCONNECT sets a session expiry interval after CONNECT said 0");
    }
    session.expiryMs = sessionExpiryMs(interval, client.broker.config.limits.maxSessionExpiryMs);
  }
  if (!packet.reasonCode) session.will = undefined;
  if (client.codec.v5) client.disconnectDetails = disconnectDetails(packet);
  client.close("disconnect");
}
