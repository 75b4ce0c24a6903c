/**
 * A message being routed, with its encodings cached so that one PUBLISH encoding is shared by
 * every subscriber that gets the same wire form: protocol (3.1.1 or 5.0), QoS and retain flag,
 * and for 5.0 the subscription identifiers, the topic alias and the remaining expiry interval.
 *
 * @module
 */
import { encodePublish, encodeTopic, type PublishTemplate } from "../protocol/encode.ts";
import { encodePublish5 } from "../protocol/encode5.ts";
import type { ProtocolLevel, PublishPacket, QoS } from "../protocol/packets.ts";
import { encodeProperties, type Properties, utf8Length } from "../protocol/properties.ts";
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

const EMPTY = new Uint8Array(0);

/**
 * A topic alias for one encoding (see {@link RoutedMessage.encode}): 0 for none, `-n` to set
 * alias `n` (topic name and alias), `n` to use it (empty topic name).
 */
export type AliasUse = number;

/** A message on its way to subscribers. */
export class RoutedMessage implements Message {
  #payload: Uint8Array;
  #topicBytes: Uint8Array | undefined;
  /** UTF-8 length of the topic, counted without encoding it (a restart counts many). */
  #topicLength = -1;
  /** The forwarded properties encoded once, for every 5.0 encoding. */
  #propertyBytes: Uint8Array | undefined;
  /** Indexed by `(5.0 ? 6 : 0) + qos * 2 + retain`. */
  #templates: (PublishTemplate | undefined)[] = [];
  /**
   * The rarer 5.0 forms (with subscription identifiers or a topic alias), by a key naming the
   * form; allocated by the first of them.
   */
  #forms: Map<string, PublishTemplate> | undefined;
  /** The expiry interval that {@link RoutedMessage.#propertyBytes} carries, in seconds. */
  #remaining: number;
  /**
   * When the message expires (ms since the epoch), or 0 if it never does. A Message Expiry
   * Interval of 0 counts as none, as in Mosquitto: a message cannot be forwarded with no time.
   */
  readonly expiresAt: number;
  /** Its id in the broker's store once a durable session or the retained store holds it; else 0. */
  storeId = 0;
  /**
   * In a cluster, the run of the node whose outbox numbered it and that number (a QoS 1/2
   * message that went to other nodes): a session handed between nodes is merged by them with
   * what its new node took in meanwhile.
   */
  clusterOrigin: string | undefined = undefined;
  clusterSeq = 0;

  /**
   * @param properties the publisher's 5.0 properties; 3.1.1 subscribers get none of them
   * @param expiresAt when it expires, for a message read back from the store (downtime counts)
   */
  constructor(
    readonly topic: string,
    payload: Uint8Array,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly properties?: Properties,
    expiresAt?: number,
  ) {
    this.#payload = payload;
    const interval = properties?.messageExpiryInterval ?? 0;
    this.#remaining = interval;
    this.expiresAt = expiresAt ?? (interval > 0 ? Date.now() + interval * 1000 : 0);
  }

  /** Whether the message has expired: it is not to be sent any more. */
  get expired(): boolean {
    return this.expiresAt !== 0 && Date.now() >= this.expiresAt;
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
    if (this.#topicLength < 0) this.#topicLength = utf8Length(this.topic);
    return this.#topicLength + this.#payload.length;
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
      this.#forms = undefined;
    }
    return this;
  }

  /**
   * Drops the 5.0 encodings when the expiry interval they carry is no longer the remaining one:
   * a message forwarded later says how long it has left (MQTT 5.0 3.3.2.3.3). Encodings made in
   * the same second are shared.
   */
  #countDown(): void {
    const remaining = Math.max(1, Math.ceil((this.expiresAt - Date.now()) / 1000));
    if (remaining === this.#remaining) return;
    this.#remaining = remaining;
    this.#propertyBytes = undefined;
    this.#templates.length = Math.min(this.#templates.length, V5);
    this.#forms = undefined;
  }

  #encode5(
    qos: QoS,
    retain: boolean,
    ids: readonly number[] | undefined,
    topic: boolean,
    alias?: number,
  ): PublishTemplate {
    if (!this.#propertyBytes) {
      if (!this.properties) this.#propertyBytes = NO_PROPERTIES;
      else {
        const properties = forwarded(this.properties);
        if (this.expiresAt) properties.messageExpiryInterval = this.#remaining;
        this.#propertyBytes = encodeProperties(properties);
      }
    }
    this.#topicBytes ??= encodeTopic(this.topic);
    return encodePublish5({
      topic: topic ? this.#topicBytes : EMPTY,
      payload: this.#payload,
      qos,
      retain,
      properties: this.#propertyBytes,
      subscriptionIdentifiers: ids,
      topicAlias: alias,
    });
  }

  /**
   * The shared encoding for a protocol level, these flags and (5.0) these subscription
   * identifiers, with packet identifier zero.
   */
  template(
    version: ProtocolLevel | 0,
    qos: QoS,
    retain: boolean,
    ids?: readonly number[],
  ): PublishTemplate {
    const at = index(version, qos, retain);
    if (at >= V5 && this.expiresAt) this.#countDown();
    if (at >= V5 && ids !== undefined) return this.#form(`${at}/${ids}`, qos, retain, ids, true);
    let template = this.#templates[at];
    if (!template) {
      if (at < V5) {
        this.#topicBytes ??= encodeTopic(this.topic);
        template = encodePublish(this.#topicBytes, this.#payload, qos, retain);
      } else template = this.#encode5(qos, retain, undefined, true);
      this.#templates[at] = template;
    }
    return template;
  }

  #form(
    key: string,
    qos: QoS,
    retain: boolean,
    ids: readonly number[] | undefined,
    topic: boolean,
    alias?: number,
  ): PublishTemplate {
    this.#forms ??= new Map();
    let template = this.#forms.get(key);
    if (!template) {
      template = this.#encode5(qos, retain, ids, topic, alias);
      this.#forms.set(key, template);
    }
    return template;
  }

  /**
   * A 5.0 encoding with a topic alias (see {@link AliasUse}). Encoded once per form with alias
   * 1 and patched for other aliases; QoS 0 keeps one copy per alias number, for the subscribers
   * whose connections gave the topic that number.
   */
  #aliased(qos: QoS, retain: boolean, ids: readonly number[] | undefined, use: AliasUse) {
    const at = index(5, qos, retain);
    if (this.expiresAt) this.#countDown();
    const topic = use < 0;
    const alias = topic ? -use : use;
    const base = `${at}/${ids ?? ""}/${topic ? "t" : "a"}`;
    const shape = this.#form(base, qos, retain, ids, topic, 1);
    if (alias === 1 || qos > 0) return shape;
    const key = `${base}${alias}`;
    let template = this.#forms!.get(key);
    if (!template) {
      template = { bytes: shape.bytes.slice(), packetIdOffset: -1 };
      patchAlias(template.bytes, this.#payload.length, alias);
      this.#forms!.set(key, template);
    }
    return template;
  }

  /**
   * The bytes to send one subscriber: shared for QoS 0, a patched copy otherwise. `ids` and
   * `alias` apply to 5.0 only.
   */
  encode(
    version: ProtocolLevel | 0,
    qos: QoS,
    retain: boolean,
    packetId: number,
    dup = false,
    ids?: readonly number[],
    alias: AliasUse = 0,
  ): Uint8Array {
    const template = alias !== 0 && version === 5
      ? this.#aliased(qos, retain, ids, alias)
      : this.template(version, qos, retain, ids);
    if (qos === 0) return template.bytes;
    const bytes = template.bytes.slice();
    if (dup) bytes[0] |= 8;
    bytes[template.packetIdOffset] = packetId >> 8;
    bytes[template.packetIdOffset + 1] = packetId & 0xff;
    if (alias !== 0 && version === 5) patchAlias(bytes, this.#payload.length, Math.abs(alias));
    return bytes;
  }

  /** Size of the encoding (without topic alias), for output accounting and size limits. */
  encodedLength(version: ProtocolLevel | 0, qos: QoS, ids?: readonly number[]): number {
    return this.template(version, qos, false, ids).bytes.length;
  }
}

/** Writes `alias` into an encoding whose topic alias is the last property, before the payload. */
function patchAlias(bytes: Uint8Array, payloadLength: number, alias: number): void {
  const at = bytes.length - payloadLength - 2;
  bytes[at] = alias >> 8;
  bytes[at + 1] = alias & 0xff;
}

/** The cache slot of a wire form; MQTT 3.1 and 3.1.1 share theirs. */
function index(version: ProtocolLevel | 0, qos: QoS, retain: boolean): number {
  return (version === 5 ? V5 : 0) + qos * 2 + (retain ? 1 : 0);
}
