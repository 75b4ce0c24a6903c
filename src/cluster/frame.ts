/**
 * Messages between nodes as bytes: a batch is a run of frames, each a length-prefixed JSON
 * header (sequence number, topic, QoS, flags, properties, expiry, where it goes) and the payload
 * as it is, so that a payload is never re-encoded.
 *
 * @module
 */
import { RoutedMessage } from "../broker/message.ts";
import type { ShareKey } from "../broker/cluster_seam.ts";
import { propertiesFromJson, propertiesToJson } from "../store/sqlite/properties.ts";
import { concatBytes } from "../protocol/bytes.ts";

/** A message on its way to one node. */
export interface Frame {
  /** Per origin node and run, increasing: the receiver drops what it has seen (de-duplication). */
  seq: number;
  message: RoutedMessage;
  /** Whether it goes to the plain subscriptions there. */
  plain: boolean;
  /** The shared subscriptions there that get it, one member each. */
  shares: readonly ShareKey[];
  /**
   * Not a message but a mark in the sender's order (its message is empty): the sender routes
   * the messages of a session on its way to another node there too from now on (sessions.ts).
   */
  marker?: string;
}

interface Header {
  s: number;
  t: string;
  q: 0 | 1 | 2;
  r: boolean;
  p: string | null;
  e: number;
  n: boolean;
  g: readonly ShareKey[];
  k?: string;
}

const text = new TextEncoder();
const words = new TextDecoder();

/** The bytes of one frame. */
export function encodeFrame(frame: Frame): Uint8Array {
  const { message } = frame;
  const header: Header = {
    s: frame.seq,
    t: message.topic,
    q: message.qos,
    r: message.retain,
    p: propertiesToJson(message.properties),
    e: message.expiresAt,
    n: frame.plain,
    g: frame.shares,
    k: frame.marker,
  };
  const head = text.encode(JSON.stringify(header));
  const payload = message.payload;
  const out = new Uint8Array(8 + head.length + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, head.length);
  view.setUint32(4, payload.length);
  out.set(head, 8);
  out.set(payload, 8 + head.length);
  return out;
}

/** Frames joined into one batch. */
export function encodeBatch(frames: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const f of frames) length += f.length;
  return concatBytes(frames, length);
}

/** The frames of a batch; throws on bytes that are not one. */
export function decodeBatch(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length) throw new Error("cluster: truncated frame");
    const headLength = view.getUint32(at);
    const payloadLength = view.getUint32(at + 4);
    const start = at + 8;
    const end = start + headLength + payloadLength;
    if (end > bytes.length) throw new Error("cluster: truncated frame");
    const h = JSON.parse(words.decode(bytes.subarray(start, start + headLength))) as Header;
    // A copy: the batch's buffer is not kept alive by one message of it.
    const payload = bytes.slice(start + headLength, end);
    const message = new RoutedMessage(h.t, payload, h.q, h.r, propertiesFromJson(h.p), h.e);
    frames.push({ seq: h.s, message, plain: h.n, shares: h.g, marker: h.k });
    at = end;
  }
  return frames;
}

/** `bytes` preceded by the sender's run id, for pub/sub messages a node must know its own of. */
export function withOrigin(origin: string, bytes: Uint8Array): Uint8Array {
  const id = text.encode(origin);
  const out = new Uint8Array(1 + id.length + bytes.length);
  out[0] = id.length;
  out.set(id, 1);
  out.set(bytes, 1 + id.length);
  return out;
}

/** What {@link withOrigin} joined. */
export function splitOrigin(bytes: Uint8Array): { origin: string; bytes: Uint8Array } {
  const length = bytes[0] ?? 0;
  return {
    origin: words.decode(bytes.subarray(1, 1 + length)),
    bytes: bytes.subarray(1 + length),
  };
}
