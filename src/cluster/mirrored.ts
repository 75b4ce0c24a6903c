/**
 * The layout of a session's copy in Redis (one hash per client id, see keys.ts), and the
 * session it holds as a node resumes it: `u` user name, `v` protocol version, `x` expiry in ms
 * (-1: never); `f:<filter>` a subscription (its order and options, JSON); `a:<packet id>` a QoS 2
 * packet id awaiting PUBREL; per delivery `d:<id>` its state (JSON) and `m:<id>` its message as a
 * frame (frame.ts), so that a move in the session's order rewrites a few bytes, not the payload.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { HandedDelivery, HandedSession } from "../broker/cluster_seam.ts";
import type { SubscriptionOptions } from "../broker/subscriptions.ts";
import type { StoredDelivery, StoredSession, StoredSubscription } from "../store/types.ts";
import { decodeBatch } from "./frame.ts";
import { type DeliveryTuple, deliveryTuple, handedDelivery } from "./handover.ts";

/** A delivery's state: seq, qos, retain, packet id, released, subscription ids, share. */
type DeliveryState = [number, ...DeliveryTuple];

/** The hash fields of a session's own record. */
export function sessionFields(session: StoredSession): [string, string][] {
  const expiry = session.expiryMs === Infinity ? -1 : session.expiryMs;
  return [["u", session.username ?? ""], ["v", String(session.protocolVersion)], [
    "x",
    String(expiry),
  ]];
}

/** The field of a subscription. */
export const subscriptionField = (filter: string): string => `f:${filter}`;
/** The field of a QoS 2 packet id awaiting PUBREL. */
export const receiveField = (packetId: number): string => `a:${packetId}`;
/** The field of a delivery's state. */
export const deliveryField = (id: number): string => `d:${id}`;
/** The field of a delivery's message. */
export const messageField = (id: number): string => `m:${id}`;

/** The value of a subscription's field; `order` keeps the order they were made in. */
export function subscriptionValue(order: number, options: StoredSubscription["options"]): string {
  return JSON.stringify([order, options]);
}

/** The value of a delivery's state field. */
export function deliveryValue(d: StoredDelivery): string {
  const state: DeliveryState = [d.seq, ...deliveryTuple(d)];
  return JSON.stringify(state);
}

/** The session a copy holds; throws on fields that are not one. */
export function decodeMirrored(clientId: string, fields: Record<string, Buffer>): HandedSession {
  const text = (name: string) => {
    const value = fields[name];
    if (value === undefined) throw new Error(`cluster: the copy of ${clientId} has no ${name}`);
    return value.toString();
  };
  const expiry = Number(text("x"));
  const subscriptions: [number, string, SubscriptionOptions][] = [];
  const deliveries: [number, HandedDelivery][] = [];
  const awaitingRelease: number[] = [];
  for (const [name, value] of Object.entries(fields)) {
    const kind = name.slice(0, 2);
    if (kind === "f:") {
      const [order, options] = JSON.parse(value.toString()) as [number, SubscriptionOptions];
      subscriptions.push([order, name.slice(2), options]);
    } else if (kind === "a:") awaitingRelease.push(Number(name.slice(2)));
    else if (kind === "d:") {
      const message = fields[`m:${name.slice(2)}`];
      if (message === undefined) throw new Error(`cluster: the copy of ${clientId} lacks ${name}`);
      const [seq, ...tuple] = JSON.parse(value.toString()) as DeliveryState;
      deliveries.push([seq, handedDelivery(decodeBatch(message)[0].message, tuple)]);
    }
  }
  subscriptions.sort((a, b) => a[0] - b[0]);
  // In flight in resend order, then queued in the order they were queued (the store's order).
  deliveries.sort((a, b) => a[0] - b[0]);
  const inflight = deliveries.filter(([, d]) => d.packetId !== 0).map(([, d]) => d);
  const queued = deliveries.filter(([, d]) => d.packetId === 0).map(([, d]) => d);
  const username = text("u");
  return {
    clientId,
    username: username === "" ? undefined : username,
    protocolVersion: Number(text("v")),
    expiryMs: expiry < 0 ? Infinity : expiry,
    subscriptions: subscriptions.map(([, filter, options]) => [filter, options]),
    deliveries: [...inflight, ...queued],
    awaitingRelease,
    // The copy keeps no numbers: what the new node took in meanwhile is all kept (README).
    seen: [],
  };
}
