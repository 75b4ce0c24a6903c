/**
 * A session as bytes, for its way from the node that held it to the node its client connected
 * to: a length-prefixed JSON header (the lease epoch it is for, the session's fields,
 * subscriptions, per delivery its state) and then one frame per delivery (see frame.ts), so that
 * payloads are not re-encoded.
 *
 * @module
 */
import type { HandedDelivery, HandedSession } from "../broker/cluster_seam.ts";
import type { RoutedMessage } from "../broker/message.ts";
import type { SubscriptionOptions } from "../broker/subscriptions.ts";
import { decodeBatch, encodeBatch, encodeFrame } from "./frame.ts";

/** A delivery's state without its message: qos, retain, packet id, released, ids, share. */
export type DeliveryTuple = [1 | 2, boolean, number, boolean, number[] | null, string | null];

/** The state of a delivery, handed over or stored. */
export function deliveryTuple(
  d: Omit<HandedDelivery, "message" | "share"> & { readonly share?: string },
): DeliveryTuple {
  return [d.qos, d.retain, d.packetId, d.released, d.ids ? [...d.ids] : null, d.share ?? null];
}

/** The delivery of `message` whose state is `tuple`. */
export function handedDelivery(
  message: RoutedMessage,
  [qos, retain, packetId, released, ids, share]: DeliveryTuple,
): HandedDelivery {
  return {
    message,
    qos,
    retain,
    packetId,
    released,
    ids: ids ?? undefined,
    share: share ?? undefined,
  };
}

interface Header {
  /** The lease epoch of the node it is handed to. */
  e: number;
  c: string;
  u: string | null;
  v: number;
  /** Expiry in ms; -1 for never (JSON has no Infinity). */
  x: number;
  s: [string, SubscriptionOptions][];
  d: DeliveryTuple[];
  a: number[];
  /** By origin, the last number of a message the session took in. */
  o: (readonly [string, number])[];
}

const text = new TextEncoder();
const words = new TextDecoder();

/** The bytes of `session`, handed over under lease `epoch`. */
export function encodeSession(epoch: number, session: HandedSession): Uint8Array {
  const header: Header = {
    e: epoch,
    c: session.clientId,
    u: session.username ?? null,
    v: session.protocolVersion,
    x: session.expiryMs === Infinity ? -1 : session.expiryMs,
    s: session.subscriptions.map(([filter, options]) => [filter, options]),
    d: session.deliveries.map(deliveryTuple),
    a: [...session.awaitingRelease],
    o: [...session.seen],
  };
  const head = text.encode(JSON.stringify(header));
  const frames = session.deliveries.map(({ message }, seq) =>
    encodeFrame({ seq, message, plain: false, shares: [] })
  );
  const body = encodeBatch(frames);
  const out = new Uint8Array(4 + head.length + body.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(body, 4 + head.length);
  return out;
}

/** What {@link encodeSession} made; throws on bytes that are not one. */
export function decodeSession(bytes: Uint8Array): { epoch: number; session: HandedSession } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new Error("cluster: truncated session");
  const headLength = view.getUint32(0);
  if (4 + headLength > bytes.length) throw new Error("cluster: truncated session");
  const h = JSON.parse(words.decode(bytes.subarray(4, 4 + headLength))) as Header;
  const frames = decodeBatch(bytes.subarray(4 + headLength));
  if (frames.length !== h.d.length) throw new Error("cluster: session deliveries do not match");
  const session: HandedSession = {
    clientId: h.c,
    username: h.u ?? undefined,
    protocolVersion: h.v,
    expiryMs: h.x < 0 ? Infinity : h.x,
    subscriptions: h.s,
    deliveries: h.d.map((tuple, i) => handedDelivery(frames[i].message, tuple)),
    awaitingRelease: h.a,
    seen: h.o,
  };
  return { epoch: h.e, session };
}
