/**
 * A message's MQTT 5 properties between our form and MQTT.js's: user properties are ordered
 * pairs here and a map of name to value(s) there; binary values are Buffers there.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { IPublishPacket } from "mqtt";
import type { Properties } from "../protocol/properties.ts";

/** MQTT.js's PUBLISH properties. */
export type RemoteProperties = NonNullable<IPublishPacket["properties"]>;

/** The properties a forwarded message carries, in MQTT.js's form; `expiry` in seconds left. */
export function remoteProperties(
  p: Properties | undefined,
  expiry: number | undefined,
): RemoteProperties | undefined {
  if (p === undefined && expiry === undefined) return undefined;
  const out: RemoteProperties = {};
  if (p?.payloadFormatIndicator !== undefined) {
    out.payloadFormatIndicator = p.payloadFormatIndicator;
  }
  if (p?.contentType !== undefined) out.contentType = p.contentType;
  if (p?.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p?.correlationData !== undefined) out.correlationData = Buffer.from(p.correlationData);
  if (p?.userProperties !== undefined) {
    const users: Record<string, string | string[]> = {};
    for (const [name, value] of p.userProperties) {
      const had = users[name];
      users[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    out.userProperties = users;
  }
  if (expiry !== undefined) out.messageExpiryInterval = expiry;
  return out;
}

/** The properties of a message from the remote, in our form (topic alias and ids left out). */
export function localProperties(p: RemoteProperties | undefined): Properties | undefined {
  if (p === undefined) return undefined;
  const out: Properties = {};
  if (p.payloadFormatIndicator !== undefined) {
    out.payloadFormatIndicator = p.payloadFormatIndicator;
  }
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = new Uint8Array(p.correlationData);
  if (p.userProperties !== undefined) {
    out.userProperties = Object.entries(p.userProperties).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, String(v)])
    );
  }
  return out;
}
