/**
 * A message being routed, with its encodings cached so that one PUBLISH encoding is shared by
 * every subscriber that gets the same wire form: protocol (3.1.1 or 5.0), QoS and retain flag.
 *
 * @module
 */
import { encodePublish, encodeTopic, type PublishTemplate } from "../protocol/encode.ts";
import { encodePublish5 } from "../protocol/encode5.ts";
import type { ProtocolLevel, PublishPacket, QoS } from "../protocol/packets.ts";
import { encodeProperties, type Properties } from "../protocol/properties.ts";
import type { Message } from "../plugins/types.ts";

/** Below this a payload view is not worth copying out of the chunk it was read in. */
const SMALL_BUFFER = 4096;

/** Where the 5.0 encodings start in the cache: six 3.1.1 forms (QoS x retain) come first. */
const V5 = 6;

const NO_PROPERTIES = new Uint8Array(0);

/**
 * The properties a PUBLISH (or a will) forwards to subscribers: every message property, in the
 * publisher's order, but not the topic alias (the publisher's connection's) nor the subscription
 * identifiers and will delay (the broker's to set).
 */
function forwarded(p: Properties): Properties {
  const out: Properties = {};
  for (const name in p) {
    switch (name) {
      case "payloadFormatIndicator":
      case "messageExpiryInterval":
      case "contentType":
      case "responseTopic":
      case "correlationData":
      case "userProperties":
        (out as Record<string, unknown>)[name] = p[name];
    }
  }
  return out;
}

/** A message on its way to subscribers. */
export class RoutedMessage implements Message {
  #payload: Uint8Array;
  #topicBytes: Uint8Array | undefined;
  /** The forwarded properties encoded once, for every 5.0 encoding. */
  #propertyBytes: Uint8Array | undefined;
  /** Indexed by `(5.0 ? 6 : 0) + qos * 2 + retain`. */
  #templates: (PublishTemplate | undefined)[] = [];

  /** @param properties the publisher's 5.0 properties; 3.1.1 subscribers get none of them */
  constructor(
    readonly topic: string,
    payload: Uint8Array,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly properties?: Properties,
  ) {
    this.#payload = payload;
  }

  /**
   * The message of a PUBLISH from a client speaking `version`. Its frame is the encoding for the
   * same protocol and flags when its DUP flag is clear and it has no topic alias (the alias is the
   * publisher's connection's, not the subscriber's).
   */
  static fromPublish(packet: PublishPacket, version: ProtocolLevel): RoutedMessage {
    const message = new RoutedMessage(
      packet.topic,
      packet.payload,
      packet.qos,
      packet.retain,
      packet.properties,
    );
    const frame = packet.frame;
    if ((frame[0] & 8) === 0 && packet.properties?.topicAlias === undefined) {
      message.#templates[index(version, packet.qos, packet.retain)] = {
        bytes: frame,
        packetIdOffset: packet.packetIdOffset,
      };
    }
    return message;
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

  /** The shared encoding for a protocol level and these flags (packet identifier zero). */
  template(version: ProtocolLevel | 0, qos: QoS, retain: boolean): PublishTemplate {
    const at = index(version, qos, retain);
    let template = this.#templates[at];
    if (!template) {
      this.#topicBytes ??= encodeTopic(this.topic);
      if (at < V5) template = encodePublish(this.#topicBytes, this.#payload, qos, retain);
      else {
        this.#propertyBytes ??= this.properties
          ? encodeProperties(forwarded(this.properties))
          : NO_PROPERTIES;
        template = encodePublish5({
          topic: this.#topicBytes,
          payload: this.#payload,
          qos,
          retain,
          properties: this.#propertyBytes,
        });
      }
      this.#templates[at] = template;
    }
    return template;
  }

  /** The bytes to send one subscriber: shared for QoS 0, a patched copy otherwise. */
  encode(
    version: ProtocolLevel | 0,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup = false,
  ): Uint8Array {
    const template = this.template(version, qos, retain);
    if (qos === 0) return template.bytes;
    const bytes = template.bytes.slice();
    if (dup) bytes[0] |= 8;
    bytes[template.packetIdOffset] = packetId >> 8;
    bytes[template.packetIdOffset + 1] = packetId & 0xff;
    return bytes;
  }

  /** Size of the encoding, for output accounting. */
  encodedLength(version: ProtocolLevel | 0, qos: QoS): number {
    return this.template(version, qos, false).bytes.length;
  }
}

/** The cache slot of a wire form; MQTT 3.1 and 3.1.1 share theirs. */
function index(version: ProtocolLevel | 0, qos: QoS, retain: boolean): number {
  return (version === 5 ? V5 : 0) + qos * 2 + (retain ? 1 : 0);
}
