/**
 * MQTT 5.0 properties (section 2.2.2): one table gives each identifier its name, its type and
 * the packets it may appear in; decoding checks every rule of the standard against it, encoding
 * writes straight into the packet being built.
 *
 * @module
 */
import { varintLength, writeVarint } from "./bytes.ts";
import { packetName, PacketType, ProtocolError, protocolError } from "./packets.ts";
import type { Reader } from "./reader.ts";
import { hasWildcard } from "./reader.ts";
import { ReasonCode } from "./reason.ts";

/** The properties of one packet (or of a will), by their names in the standard, camelCased. */
export interface Properties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  /** One in SUBSCRIBE; a list in PUBLISH (which only the server may send with it). */
  subscriptionIdentifier?: number | number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQos?: 0 | 1;
  retainAvailable?: boolean;
  /** In the order they came (or go) on the wire; a name may repeat. */
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

/** Where a property block sits: a packet type, or {@link WILL_PROPERTIES}. */
export type PropertyContext =
  | typeof PacketType[keyof typeof PacketType]
  | typeof WILL_PROPERTIES;

/** The context of the will properties in CONNECT (0 is no packet type). */
export const WILL_PROPERTIES = 0;

/** Wire types of section 1.5; `flag` is a byte that must be 0 or 1, read as a boolean. */
type Kind = "flag" | "byte" | "uint16" | "uint32" | "varint" | "string" | "binary" | "pair";

interface Spec {
  id: number;
  name: keyof Properties;
  kind: Kind;
  /** Bit `1 << context` for each context the property may appear in. */
  allowed: number;
  /** Whether it may appear more than once in every context where it is allowed. */
  repeats?: boolean;
}

const bits = (...contexts: PropertyContext[]) => contexts.reduce<number>((m, c) => m | (1 << c), 0);
const P = PacketType;
const MESSAGE = bits(P.PUBLISH, WILL_PROPERTIES);

const SPECS: readonly Spec[] = [
  { id: 0x01, name: "payloadFormatIndicator", kind: "flag", allowed: MESSAGE },
  { id: 0x02, name: "messageExpiryInterval", kind: "uint32", allowed: MESSAGE },
  { id: 0x03, name: "contentType", kind: "string", allowed: MESSAGE },
  { id: 0x08, name: "responseTopic", kind: "string", allowed: MESSAGE },
  { id: 0x09, name: "correlationData", kind: "binary", allowed: MESSAGE },
  {
    id: 0x0b,
    name: "subscriptionIdentifier",
    kind: "varint",
    allowed: bits(P.PUBLISH, P.SUBSCRIBE),
  },
  {
    id: 0x11,
    name: "sessionExpiryInterval",
    kind: "uint32",
    allowed: bits(P.CONNECT, P.CONNACK, P.DISCONNECT),
  },
  { id: 0x12, name: "assignedClientIdentifier", kind: "string", allowed: bits(P.CONNACK) },
  { id: 0x13, name: "serverKeepAlive", kind: "uint16", allowed: bits(P.CONNACK) },
  {
    id: 0x15,
    name: "authenticationMethod",
    kind: "string",
    allowed: bits(P.CONNECT, P.CONNACK, P.AUTH),
  },
  {
    id: 0x16,
    name: "authenticationData",
    kind: "binary",
    allowed: bits(P.CONNECT, P.CONNACK, P.AUTH),
  },
  { id: 0x17, name: "requestProblemInformation", kind: "flag", allowed: bits(P.CONNECT) },
  { id: 0x18, name: "willDelayInterval", kind: "uint32", allowed: bits(WILL_PROPERTIES) },
  { id: 0x19, name: "requestResponseInformation", kind: "flag", allowed: bits(P.CONNECT) },
  { id: 0x1a, name: "responseInformation", kind: "string", allowed: bits(P.CONNACK) },
  { id: 0x1c, name: "serverReference", kind: "string", allowed: bits(P.CONNACK, P.DISCONNECT) },
  {
    id: 0x1f,
    name: "reasonString",
    kind: "string",
    allowed: bits(
      P.CONNACK,
      P.PUBACK,
      P.PUBREC,
      P.PUBREL,
      P.PUBCOMP,
      P.SUBACK,
      P.UNSUBACK,
      P.DISCONNECT,
      P.AUTH,
    ),
  },
  { id: 0x21, name: "receiveMaximum", kind: "uint16", allowed: bits(P.CONNECT, P.CONNACK) },
  { id: 0x22, name: "topicAliasMaximum", kind: "uint16", allowed: bits(P.CONNECT, P.CONNACK) },
  { id: 0x23, name: "topicAlias", kind: "uint16", allowed: bits(P.PUBLISH) },
  { id: 0x24, name: "maximumQos", kind: "byte", allowed: bits(P.CONNACK) },
  { id: 0x25, name: "retainAvailable", kind: "flag", allowed: bits(P.CONNACK) },
  {
    id: 0x26,
    name: "userProperties",
    kind: "pair",
    repeats: true,
    // Every packet that has properties at all.
    allowed: ~bits(P.PINGREQ, P.PINGRESP),
  },
  { id: 0x27, name: "maximumPacketSize", kind: "uint32", allowed: bits(P.CONNECT, P.CONNACK) },
  {
    id: 0x28,
    name: "wildcardSubscriptionAvailable",
    kind: "flag",
    allowed: bits(P.CONNACK),
  },
  {
    id: 0x29,
    name: "subscriptionIdentifiersAvailable",
    kind: "flag",
    allowed: bits(P.CONNACK),
  },
  { id: 0x2a, name: "sharedSubscriptionAvailable", kind: "flag", allowed: bits(P.CONNACK) },
];

const BY_ID: (Spec | undefined)[] = [];
const BY_NAME = new Map<string, Spec>();
for (const spec of SPECS) {
  BY_ID[spec.id] = spec;
  BY_NAME.set(spec.name, spec);
}

/** Rules on a decoded value beyond its type: the error for a value the standard forbids. */
function checkValue(spec: Spec, value: number | string): ProtocolError | undefined {
  switch (spec.name) {
    case "receiveMaximum":
    case "maximumPacketSize":
      return value === 0 ? protocolError(`${spec.name} 0`) : undefined;
    case "subscriptionIdentifier":
      return value === 0 ? protocolError("subscription identifier 0") : undefined;
    case "topicAlias":
      // The standard forbids alias 0 and names 0x94 for aliases the receiver cannot accept.
      return value === 0
        ? new ProtocolError("topic alias 0", ReasonCode.TOPIC_ALIAS_INVALID)
        : undefined;
    case "maximumQos":
      return value !== 0 && value !== 1 ? protocolError(`maximumQos ${value}`) : undefined;
    case "responseTopic":
      return value === "" || hasWildcard(value as string)
        ? protocolError("response topic is empty or has a wildcard")
        : undefined;
  }
  return undefined;
}

function readValue(reader: Reader, spec: Spec): Properties[keyof Properties] {
  const what = spec.name;
  switch (spec.kind) {
    case "flag": {
      const byte = reader.byte(what);
      if (byte > 1) throw protocolError(`${what} is ${byte}, not 0 or 1`);
      return byte === 1;
    }
    case "byte":
      return reader.byte(what) as 0 | 1;
    case "uint16":
      return reader.uint16(what);
    case "uint32":
      return reader.uint32(what);
    case "varint":
      return reader.varint(what);
    case "string":
      return reader.string(what);
    case "binary":
      return reader.binary(what);
    case "pair":
      return [[reader.string(`${what} name`), reader.string(`${what} value`)]];
  }
}

/**
 * Reads a property block (its length, then the properties) at the reader's position. Binary
 * values are views into the packet.
 *
 * @throws ProtocolError 0x81 for a block longer than the packet, an unknown identifier or one not
 *   allowed in `context`; 0x82 for a repeated property, a forbidden value, or authentication
 *   data without a method; 0x94 for topic alias 0
 */
export function decodeProperties(reader: Reader, context: PropertyContext): Properties {
  const length = reader.varint("property length");
  const end = reader.pos + length;
  if (end > reader.bytes.length) throw new ProtocolError("property length exceeds the packet");
  const props: Properties = {};
  const record = props as Record<string, unknown>;
  const inPublish = context === P.PUBLISH;
  while (reader.pos < end) {
    const id = reader.byte("property identifier");
    const spec = BY_ID[id];
    if (!spec) throw new ProtocolError(`unknown property 0x${id.toString(16)}`);
    if ((spec.allowed & (1 << context)) === 0) {
      const where = context === WILL_PROPERTIES ? "will properties" : packetName(context);
      throw new ProtocolError(`property ${spec.name} is not allowed in ${where}`);
    }
    const value = readValue(reader, spec);
    const error = checkValue(spec, value as number | string);
    if (error) throw error;
    const previous = record[spec.name];
    if (spec.repeats) {
      if (previous) (previous as unknown[]).push((value as unknown[])[0]);
      else record[spec.name] = value;
    } else if (spec.name === "subscriptionIdentifier" && inPublish) {
      // The server's PUBLISH carries one per subscription that matched; SUBSCRIBE carries one.
      if (previous) (previous as number[]).push(value as number);
      else record[spec.name] = [value];
    } else if (previous !== undefined) {
      throw protocolError(`property ${spec.name} appears twice`);
    } else {
      record[spec.name] = value;
    }
  }
  if (reader.pos > end) throw new ProtocolError("a property runs past the property length");
  if (props.authenticationData && props.authenticationMethod === undefined) {
    throw protocolError("authentication data without an authentication method");
  }
  return props;
}

/** UTF-8 length of `text` as TextEncoder writes it (a lone surrogate becomes U+FFFD). */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (
      (c & 0xfc00) === 0xd800 && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

function stringLength(text: string, what: string): number {
  const length = utf8Length(text);
  if (length > 0xffff) throw new RangeError(`${what} is longer than 65535 bytes`);
  return 2 + length;
}

function checkInteger(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} ${value} is not an integer in 0..${max}`);
  }
}

const MAX_VARINT = 268435455;

function varintList(value: number | readonly number[]): readonly number[] {
  return typeof value === "number" ? [value] : value;
}

/** Bytes of one property (identifier included), or of all values of a repeating one. */
function valueLength(spec: Spec, value: NonNullable<Properties[keyof Properties]>): number {
  const what = spec.name;
  switch (spec.kind) {
    case "flag":
      return 2;
    case "byte":
      checkInteger(value as number, 1, what);
      return 2;
    case "uint16":
      checkInteger(value as number, 0xffff, what);
      return 3;
    case "uint32":
      checkInteger(value as number, 0xffffffff, what);
      return 5;
    case "varint": {
      let length = 0;
      for (const n of varintList(value as number | number[])) {
        checkInteger(n, MAX_VARINT, what);
        length += 1 + varintLength(n);
      }
      return length;
    }
    case "string":
      return 1 + stringLength(value as string, what);
    case "binary": {
      const length = (value as Uint8Array).length;
      if (length > 0xffff) throw new RangeError(`${what} is longer than 65535 bytes`);
      return 3 + length;
    }
    case "pair": {
      let length = 0;
      for (const [name, text] of value as [string, string][]) {
        length += 1 + stringLength(name, `${what} name`) + stringLength(text, `${what} value`);
      }
      return length;
    }
  }
}

function specNamed(name: string): Spec {
  const spec = BY_NAME.get(name);
  if (!spec) throw new RangeError(`unknown property ${name}`);
  return spec;
}

/**
 * Length in bytes of the encoded properties, without the property length in front.
 *
 * @throws RangeError for a value that does not fit its type
 */
export function propertiesLength(props: Properties): number {
  let length = 0;
  for (const name in props) {
    const value = props[name as keyof Properties];
    if (value !== undefined) length += valueLength(specNamed(name), value);
  }
  return length;
}

const utf8 = new TextEncoder();

function writeString(out: Uint8Array, at: number, text: string): number {
  const { written } = utf8.encodeInto(text, out.subarray(at + 2));
  out[at] = written >> 8;
  out[at + 1] = written & 0xff;
  return at + 2 + written;
}

function writeValue(out: Uint8Array, at: number, spec: Spec, value: unknown): number {
  switch (spec.kind) {
    case "flag":
      out[at++] = spec.id;
      out[at++] = value ? 1 : 0;
      return at;
    case "byte":
      out[at++] = spec.id;
      out[at++] = value as number;
      return at;
    case "uint16":
      out[at++] = spec.id;
      out[at++] = (value as number) >> 8;
      out[at++] = (value as number) & 0xff;
      return at;
    case "uint32": {
      const n = value as number;
      out[at++] = spec.id;
      out[at++] = Math.floor(n / 0x1000000);
      out[at++] = (n >> 16) & 0xff;
      out[at++] = (n >> 8) & 0xff;
      out[at++] = n & 0xff;
      return at;
    }
    case "varint":
      for (const n of varintList(value as number | number[])) {
        out[at++] = spec.id;
        at = writeVarint(out, at, n);
      }
      return at;
    case "string":
      out[at++] = spec.id;
      return writeString(out, at, value as string);
    case "binary": {
      const bytes = value as Uint8Array;
      out[at++] = spec.id;
      out[at++] = bytes.length >> 8;
      out[at++] = bytes.length & 0xff;
      out.set(bytes, at);
      return at + bytes.length;
    }
    case "pair":
      for (const [name, text] of value as [string, string][]) {
        out[at++] = spec.id;
        at = writeString(out, writeString(out, at, name), text);
      }
      return at;
  }
}

/**
 * Writes the properties (without the property length) at `at`, where
 * {@link propertiesLength} bytes are free; returns the offset after them. Values are checked by
 * {@link propertiesLength}, which must have been called on the same properties.
 */
export function writeProperties(out: Uint8Array, at: number, props: Properties): number {
  for (const name in props) {
    const value = props[name as keyof Properties];
    if (value !== undefined) at = writeValue(out, at, specNamed(name), value);
  }
  return at;
}

/**
 * The properties encoded once (without the property length), to be shared by every packet that
 * carries them, such as every encoding of one PUBLISH.
 *
 * @throws RangeError for a value that does not fit its type
 */
export function encodeProperties(props: Properties): Uint8Array {
  const out = new Uint8Array(propertiesLength(props));
  writeProperties(out, 0, props);
  return out;
}
