/**
 * Refusing a connection over `max-connections` with a CONNACK rather than a bare close, so the
 * client learns why: it reads the CONNECT (within the connect timeout), answers "server
 * unavailable" (3.1.1) or "quota exceeded" (5.0) in the client's own version, and closes. It
 * holds no session, no client and no slot of the listener.
 *
 * @module
 */
import { Codec } from "../protocol/codec.ts";
import { PacketFramer } from "../protocol/framer.ts";
import { PacketType } from "../protocol/packets.ts";
import { ReasonCode } from "../protocol/reason.ts";
import type { Connection } from "../runtime/types.ts";

/** A CONNECT is small; a refused client gets no room for more. */
const MAX_CONNECT_BYTES = 64 * 1024;

/**
 * Reads `conn` up to its CONNECT, answers it with a refusal and closes, or closes after
 * `timeoutMs` without one. Never throws; resolves once the connection is closed.
 */
export async function refuseWithConnack(conn: Connection, timeoutMs: number): Promise<void> {
  const reader = conn.readable.getReader();
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    const framer = new PacketFramer(MAX_CONNECT_BYTES);
    const codec = new Codec();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      framer.push(value);
      const frame = framer.next();
      if (!frame) continue;
      if (frame[0] >> 4 !== PacketType.CONNECT) return;
      codec.decode(frame);
      const answer = codec.connack(ReasonCode.QUOTA_EXCEEDED, false);
      if (answer) {
        const writer = conn.writable.getWriter();
        await writer.write(answer);
        writer.releaseLock();
      }
      return;
    }
  } catch {
    // A malformed CONNECT or a broken socket: the close below is all it gets.
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
    conn.close();
  }
}
