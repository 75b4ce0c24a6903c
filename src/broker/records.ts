/**
 * The store's records of the broker's objects, and the objects again from the records.
 *
 * @module
 */
import type { Will } from "../protocol/packets.ts";
import type {
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoredWill,
} from "../store/types.ts";
import type { SubscriptionOptions } from "./subscriptions.ts";
import { RoutedMessage } from "./message.ts";
import type { Session } from "./session.ts";

/** A session's own fields; `expiresAt` 0 while connected or when it never expires. */
export function sessionRecord(session: Session, expiresAt: number): StoredSession {
  return {
    clientId: session.clientId,
    username: session.info?.username,
    protocolVersion: session.info?.protocolVersion ?? 4,
    expiryMs: session.expiryMs,
    expiresAt,
  };
}

/** A will, due at `dueAt` (0: when its connection ends). */
export function willRecord(will: Will, dueAt: number): StoredWill {
  const { topic, payload, qos, retain, properties } = will;
  return { topic, payload, qos, retain, properties, dueAt };
}

/** The will a {@link StoredWill} holds. */
export function willFromRecord(stored: StoredWill): Will {
  const { topic, payload, qos, retain, properties } = stored;
  return { topic, payload, qos, retain, ...(properties && { properties }) };
}

/** A message as stored, under `id`. */
export function messageRecord(message: RoutedMessage, id: number): StoredMessage {
  return {
    id,
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    properties: message.properties,
    expiresAt: message.expiresAt,
  };
}

/** The message a {@link StoredMessage} holds, with its store id and absolute expiry. */
export function messageFromRecord(stored: StoredMessage): RoutedMessage {
  const message = new RoutedMessage(
    stored.topic,
    stored.payload,
    stored.qos,
    stored.retain,
    stored.properties,
    stored.expiresAt,
  );
  message.storeId = stored.id;
  return message;
}

/** A session's subscription as stored. */
export function subscriptionRecord(
  clientId: string,
  filter: string,
  options: SubscriptionOptions,
): StoredSubscription {
  const { qos, noLocal, retainAsPublished, retainHandling, subscriptionId, shareGroup } = options;
  return {
    clientId,
    filter,
    options: { qos, noLocal, retainAsPublished, retainHandling, subscriptionId, shareGroup },
  };
}
