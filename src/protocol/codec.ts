/**
 * One connection's codec: the protocol version its CONNECT set, decoding with that version,
 * encoding what the broker answers in it, and the per-connection protocol state of MQTT 5.0
 * (the client's limits, the inbound topic aliases). A reason code decided once reads right in
 * either version: 3.1.1 gets the nearest return code, or nothing where it has no field for one.
 *
 * @module
 */
import { decodePacket } from "./decode.ts";
import { encodeAck, encodeConnack, encodeSuback, encodeUnsuback, PINGRESP } from "./encode.ts";
import {
  encodeAck5,
  encodeAuth5,
  encodeConnack5,
  encodeDisconnect5,
  encodeSuback5,
  encodeUnsuback5,
} from "./encode5.ts";
import {
  type AckPacket,
  type ClientPacket,
  type ConnectPacket,
  PacketType,
  ProtocolError,
  type ProtocolLevel,
  type PublishPacket,
} from "./packets.ts";
import type { Properties } from "./properties.ts";
import { OutboundAliases } from "./alias_out.ts";
import { connackReturnCodeV4, ReasonCode } from "./reason.ts";

/** The largest Receive Maximum, and what a 5.0 client that sends none allows. */
const MAX_RECEIVE = 65535;

/** A 3.1.1 SUBACK has one failure code for every 5.0 refusal. */
const SUBACK_FAILURE = 0x80;

/** The protocol side of one connection. */
export class Codec {
  #version: ProtocolLevel | 0 = 0;
  /** How many QoS 1/2 messages in flight the client accepts (5.0 Receive Maximum). */
  receiveMaximum = MAX_RECEIVE;
  /** The largest packet the client accepts, in bytes; 0 for no limit of its own. */
  maximumPacketSize = 0;
  /** How many topic aliases the client accepts from the broker (0: none). */
  clientTopicAliasMaximum = 0;
  /** Whether the client lets the broker add reason strings (5.0 Request Problem Information). */
  problemInformation = true;
  /** Whether the client asked for Response Information in CONNACK. */
  responseInformation = false;
  #topicAliases: Map<number, string> | undefined;
  #outboundAliases: OutboundAliases | undefined;

  /** @param topicAliasMaximum how many topic aliases the broker accepts from the client (0: none) */
  constructor(readonly topicAliasMaximum = 0) {}

  /**
   * The client's topic aliases, by alias: at most {@link Codec.topicAliasMaximum}, and only for
   * this connection (MQTT 5.0 3.3.2.3.4), so a reconnect starts with none. Made on first use, as
   * is {@link Codec.outboundAliases}: most connections never use aliases, and an empty table
   * would be a good part of what an idle connection costs.
   */
  get topicAliases(): Map<number, string> {
    return this.#topicAliases ??= new Map();
  }

  /** The topic aliases the broker gives the topics it sends (see {@link OutboundAliases}). */
  get outboundAliases(): OutboundAliases {
    return this.#outboundAliases ??= new OutboundAliases();
  }

  /** The protocol level its CONNECT set (3, 4 or 5), or 0 before CONNECT. */
  get version(): ProtocolLevel | 0 {
    return this.#version;
  }

  /** Whether the connection speaks MQTT 5.0. */
  get v5(): boolean {
    return this.#version === 5;
  }

  /**
   * Decodes one whole packet in the connection's version; throws {@link ProtocolError} with the
   * reason code to close with. Before CONNECT only CONNECT is read as 5.0 (the rest is refused
   * as 3.1.1 would refuse it); the first CONNECT sets the version.
   */
  decode(frame: Uint8Array): ClientPacket {
    const type = frame[0] >> 4;
    const version = this.#version || (type === PacketType.CONNECT ? 5 : 4);
    const packet = decodePacket(frame, version);
    if (packet.type === PacketType.CONNECT) {
      if (this.#version === 0) this.#connected(packet);
    } else if (packet.type === PacketType.PUBLISH && packet.properties?.topicAlias !== undefined) {
      this.#resolveAlias(packet);
    }
    return packet;
  }

  #connected(packet: ConnectPacket): void {
    // A refused level is answered in the 3.1.1 layout, which every level's client can read.
    const level = packet.protocolVersion;
    this.#version = packet.returnCode === undefined && (level === 3 || level === 5) ? level : 4;
    const p = packet.properties;
    if (!p) return;
    this.receiveMaximum = p.receiveMaximum ?? MAX_RECEIVE;
    this.maximumPacketSize = p.maximumPacketSize ?? 0;
    this.clientTopicAliasMaximum = p.topicAliasMaximum ?? 0;
    this.problemInformation = p.requestProblemInformation ?? true;
    this.responseInformation = p.requestResponseInformation ?? false;
  }

  /** Gives an aliased PUBLISH its topic, and records a new alias, within our maximum. */
  #resolveAlias(packet: PublishPacket): void {
    const alias = packet.properties!.topicAlias!;
    if (alias > this.topicAliasMaximum) {
      throw new ProtocolError(
        `topic alias ${alias} over the maximum ${this.topicAliasMaximum}`,
        ReasonCode.TOPIC_ALIAS_INVALID,
      );
    }
    if (packet.topic !== "") this.topicAliases.set(alias, packet.topic);
    else {
      const topic = this.topicAliases.get(alias);
      if (topic === undefined) {
        throw new ProtocolError(`unknown topic alias ${alias}`, ReasonCode.TOPIC_ALIAS_INVALID);
      }
      packet.topic = topic;
    }
  }

  /**
   * CONNACK for a 5.0 reason code; `properties` go to 5.0 clients only, and `reason` too when the
   * client allows reason strings and it fits its maximum packet size. Undefined when 3.1.1 has no
   * CONNACK for the code (malformed packet, protocol error): the connection just closes.
   */
  connack(
    reasonCode: number,
    sessionPresent: boolean,
    properties: Properties = {},
    reason?: string,
  ): Uint8Array | undefined {
    if (this.v5) {
      return this.#withReason(
        reason,
        properties,
        (p) => encodeConnack5(reasonCode, sessionPresent, p),
      );
    }
    const code = connackReturnCodeV4(reasonCode);
    return code === undefined ? undefined : encodeConnack(code, sessionPresent);
  }

  /**
   * PUBACK, PUBREC, PUBREL or PUBCOMP; 3.1.1 has no reason code, so it is left out there, and
   * `reason` goes to 5.0 as for {@link Codec.connack}.
   */
  ack(type: AckPacket["type"], packetId: number, reasonCode = 0, reason?: string): Uint8Array {
    if (!this.v5) return encodeAck(type, packetId);
    return this.#withReason(reason, {}, (p) => encodeAck5(type, packetId, reasonCode, p));
  }

  /**
   * SUBACK with one 5.0 reason code per filter, and `reason` as for {@link Codec.connack}; 3.1.1
   * reads every refusal as 0x80.
   */
  suback(packetId: number, reasonCodes: readonly number[], reason?: string): Uint8Array {
    if (this.v5) {
      return this.#withReason(reason, {}, (p) => encodeSuback5(packetId, reasonCodes, p));
    }
    return encodeSuback(
      packetId,
      reasonCodes.map((code) => code < SUBACK_FAILURE ? code : SUBACK_FAILURE),
    );
  }

  /** UNSUBACK with one 5.0 reason code per filter (3.1.1 has none). */
  unsuback(packetId: number, reasonCodes: readonly number[]): Uint8Array {
    return this.v5 ? encodeUnsuback5(packetId, reasonCodes) : encodeUnsuback(packetId);
  }

  /** PINGRESP, the same in every version. */
  pingresp(): Uint8Array {
    return PINGRESP;
  }

  /** AUTH (5.0 only): a step of enhanced authentication, or the end of a re-authentication. */
  auth(reasonCode: number, properties?: Properties): Uint8Array {
    return encodeAuth5(reasonCode, properties);
  }

  /**
   * DISCONNECT with a reason code (and `reason` as its reason string, as for
   * {@link Codec.connack}), for 5.0; undefined for 3.1.1, where only a close says it.
   */
  disconnect(reasonCode: number, reason?: string): Uint8Array | undefined {
    if (!this.v5) return undefined;
    return this.#withReason(reason, {}, (p) => encodeDisconnect5(reasonCode, p));
  }

  /**
   * Encodes with a reason string if the client accepts one (3.1.2.11.7: none when it set Request
   * Problem Information 0) and the packet still fits its Maximum Packet Size (3.2.2.3.16,
   * 3.14.2.2.3); otherwise without.
   */
  #withReason(
    reason: string | undefined,
    properties: Properties,
    encode: (properties: Properties) => Uint8Array,
  ): Uint8Array {
    if (reason === undefined || !this.problemInformation) return encode(properties);
    const bytes = encode({ ...properties, reasonString: reason });
    const max = this.maximumPacketSize;
    return max === 0 || bytes.length <= max ? bytes : encode(properties);
  }
}
