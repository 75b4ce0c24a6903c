/**
 * PINGREQ: answer PINGRESP (reading it already renewed the keepalive).
 *
 * @module
 */
import type { Client } from "../client.ts";

/** Handles PINGREQ. */
export function handlePingreq(client: Client): void {
  client.send(client.codec.pingresp());
}
