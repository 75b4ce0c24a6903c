/**
 * Subscriptions as a trie over topic levels: matching a topic costs one walk down the levels it
 * has, whatever the number of subscriptions. Each (filter, subscriber) pair holds its
 * {@link SubscriptionOptions}, shared by reference with the session's own map, so that routing
 * reads them without allocating.
 *
 * @module
 */
import type { QoS, RetainHandling, SubscriptionRequest } from "../protocol/packets.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { RoutedMessage } from "./message.ts";

/**
 * What one subscription asks for. 3.1.1 subscriptions have the 5.0 defaults (see
 * {@link subscriptionOptions}).
 */
export interface SubscriptionOptions {
  /** The granted maximum QoS. */
  readonly qos: QoS;
  /** 5.0: do not send the subscriber the messages it publishes itself. */
  readonly noLocal: boolean;
  /** 5.0: forward the RETAIN flag as published rather than clear it. */
  readonly retainAsPublished: boolean;
  /** 5.0: when retained messages are sent for this subscription. */
  readonly retainHandling: RetainHandling;
  /** 5.0: the subscription identifier the SUBSCRIBE carried, delivered with matching messages. */
  readonly subscriptionId?: number;
  /** The group of a shared subscription (`$share/{group}/{filter}`). */
  readonly shareGroup?: string;
}

/**
 * The options of one filter of a SUBSCRIBE, at `qos` (the granted QoS); a 3.1.1 request has no
 * 5.0 options and gets their defaults, which mean what 3.1.1 does.
 */
export function subscriptionOptions(
  request: SubscriptionRequest,
  qos: QoS = request.qos,
  subscriptionId?: number,
): SubscriptionOptions {
  return {
    qos,
    noLocal: request.noLocal ?? false,
    retainAsPublished: request.retainAsPublished ?? false,
    retainHandling: request.retainHandling ?? 0,
    subscriptionId,
  };
}

/**
 * What routing delivers to: a client's session, or an embedder's local subscription. The two
 * route fields are scratch for de-duplicating overlapping subscriptions during one routing.
 */
export interface Subscriber {
  routeMark: number;
  routeQos: QoS;
  /** Whose topic checks apply to deliveries; undefined for the embedder, who needs none. */
  readonly info: ClientInfo | undefined;
  /** Delivers a message at `qos` (already the minimum of publish and subscription). */
  deliver(message: RoutedMessage, qos: QoS, retain: boolean): void;
}

class Node<S> {
  children: Map<string, Node<S>> | undefined;
  subscribers: Map<S, SubscriptionOptions> | undefined;

  isEmpty(): boolean {
    return !this.subscribers?.size && !this.children?.size;
  }
}

/** Subscribers of type `S` by topic filter. */
export class SubscriptionTree<S> {
  #root = new Node<S>();
  #count = 0;

  /** Number of (filter, subscriber) pairs. */
  get size(): number {
    return this.#count;
  }

  /** Adds or replaces a subscription. */
  add(filter: string, subscriber: S, options: SubscriptionOptions): void {
    let node = this.#root;
    for (const level of filter.split("/")) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = new Node<S>();
        node.children.set(level, child);
      }
      node = child;
    }
    node.subscribers ??= new Map();
    if (!node.subscribers.has(subscriber)) this.#count++;
    node.subscribers.set(subscriber, options);
  }

  /** Removes a subscription; returns whether it existed. Prunes emptied branches. */
  remove(filter: string, subscriber: S): boolean {
    const path: Node<S>[] = [this.#root];
    const levels = filter.split("/");
    for (const level of levels) {
      const child = path[path.length - 1].children?.get(level);
      if (!child) return false;
      path.push(child);
    }
    const removed = path[path.length - 1].subscribers?.delete(subscriber) ?? false;
    if (!removed) return false;
    this.#count--;
    for (let i = levels.length; i > 0 && path[i].isEmpty(); i--) {
      path[i - 1].children!.delete(levels[i - 1]);
    }
    return true;
  }

  /**
   * Calls `visit` for every subscription matching `topic`; a subscriber with several matching
   * filters is visited once per filter (the caller de-duplicates).
   */
  match(topic: string, visit: (subscriber: S, options: SubscriptionOptions) => void): void {
    const levels = topic.split("/");
    walk(this.#root, levels, 0, topic.charCodeAt(0) === 0x24, visit);
  }
}

function visitAll<S>(
  node: Node<S> | undefined,
  visit: (subscriber: S, options: SubscriptionOptions) => void,
): void {
  if (node?.subscribers) {
    for (const [subscriber, options] of node.subscribers) {
      visit(subscriber, options);
    }
  }
}

function walk<S>(
  node: Node<S>,
  levels: string[],
  depth: number,
  dollar: boolean,
  visit: (subscriber: S, options: SubscriptionOptions) => void,
): void {
  const children = node.children;
  if (depth === levels.length) {
    visitAll(node, visit);
    // `a/#` also matches `a` itself.
    if (children) visitAll(children.get("#"), visit);
    return;
  }
  if (!children) return;
  // Wildcards in the first level never match topics that start with `$`.
  const wild = !(depth === 0 && dollar);
  if (wild) {
    visitAll(children.get("#"), visit);
    const plus = children.get("+");
    if (plus) walk(plus, levels, depth + 1, dollar, visit);
  }
  const exact = children.get(levels[depth]);
  if (exact) walk(exact, levels, depth + 1, dollar, visit);
}
