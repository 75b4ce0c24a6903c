/**
 * PINGREQ: answer PINGRESP (reading it already renewed the keepalive).
 *
 * @module
 */
import { PINGRESP } from "../../protocol/encode.ts";
import type { Client } from "../client.ts";

/** Handles PINGREQ. */
export function handlePingreq(client: Client): void {
  client.send(PINGRESP);
}
