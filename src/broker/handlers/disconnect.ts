/**
 * DISCONNECT: a clean end, so the will is discarded, never published.
 *
 * @module
 */
import type { Client } from "../client.ts";

/** Handles DISCONNECT. */
export function handleDisconnect(client: Client): void {
  client.will = undefined;
  client.close("disconnect");
}
