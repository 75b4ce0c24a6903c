/**
 * A message being routed, with its encodings cached so that one PUBLISH encoding is shared by
 * every subscriber that gets the same QoS and retain flag.
 *
 * @module
 */
import { encodePublish, encodeTopic, type PublishTemplate } from "../protocol/encode.ts";
import type { QoS } from "../protocol/packets.ts";
import type { Message } from "../plugins/types.ts";

/** Below this a payload view is not worth copying out of the chunk it was read in. */
const SMALL_BUFFER = 4096;

/** A message on its way to subscribers. */
export class RoutedMessage implements Message {
  #payload: Uint8Array;
  #topicBytes: Uint8Array | undefined;
  /** Indexed by `qos * 2 + retain`. */
  #templates: (PublishTemplate | undefined)[] = [];

  /**
   * @param frame the PUBLISH as received, reused as the encoding for the same flags when its
   *   DUP flag is clear
   * @param packetIdOffset where that frame's packet identifier is
   */
  constructor(
    readonly topic: string,
    payload: Uint8Array,
    readonly qos: QoS,
    readonly retain: boolean,
    frame?: Uint8Array,
    packetIdOffset = -1,
  ) {
    this.#payload = payload;
    if (frame && (frame[0] & 8) === 0) {
      this.#templates[qos * 2 + (retain ? 1 : 0)] = { bytes: frame, packetIdOffset };
    }
  }

  /** The payload; treat it as read-only, it is shared. */
  get payload(): Uint8Array {
    return this.#payload;
  }

  /** Bytes of topic (UTF-8) and payload: what the bounds on stored and queued bytes count. */
  get size(): number {
    this.#topicBytes ??= encodeTopic(this.topic);
    return this.#topicBytes.length + this.#payload.length;
  }

  /**
   * Makes the message hold only its own bytes, not the larger chunk it was read in, before it is
   * kept for long (retained, or queued for an offline session).
   */
  own(): this {
    const payload = this.#payload;
    if (
      payload.buffer.byteLength > SMALL_BUFFER && payload.buffer.byteLength > payload.length * 2
    ) {
      this.#payload = payload.slice();
      this.#templates = [];
    }
    return this;
  }

  /** The shared encoding for these flags (packet identifier zero). */
  template(qos: QoS, retain: boolean): PublishTemplate {
    const index = qos * 2 + (retain ? 1 : 0);
    let template = this.#templates[index];
    if (!template) {
      this.#topicBytes ??= encodeTopic(this.topic);
      template = encodePublish(this.#topicBytes, this.#payload, qos, retain);
      this.#templates[index] = template;
    }
    return template;
  }

  /** The bytes to send one subscriber: shared for QoS 0, a patched copy otherwise. */
  encode(qos: QoS, retain: boolean, packetId: number, dup = false): Uint8Array {
    const template = this.template(qos, retain);
    if (qos === 0) return template.bytes;
    const bytes = template.bytes.slice();
    if (dup) bytes[0] |= 8;
    bytes[template.packetIdOffset] = packetId >> 8;
    bytes[template.packetIdOffset + 1] = packetId & 0xff;
    return bytes;
  }

  /** Size of the encoding, for output accounting. */
  encodedLength(qos: QoS): number {
    return this.template(qos, false).bytes.length;
  }
}
