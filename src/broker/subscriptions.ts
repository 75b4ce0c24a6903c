/**
 * Subscriptions as a trie over topic levels: matching a topic costs one walk down the levels it
 * has, whatever the number of subscriptions.
 *
 * @module
 */
import type { QoS } from "../protocol/packets.ts";

class Node<S> {
  children: Map<string, Node<S>> | undefined;
  subscribers: Map<S, QoS> | undefined;

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
  add(filter: string, subscriber: S, qos: QoS): void {
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
    node.subscribers.set(subscriber, qos);
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
   * filters is visited once per filter (the caller keeps the highest QoS).
   */
  match(topic: string, visit: (subscriber: S, qos: QoS) => void): void {
    const levels = topic.split("/");
    walk(this.#root, levels, 0, topic.charCodeAt(0) === 0x24, visit);
  }
}

function visitAll<S>(node: Node<S> | undefined, visit: (subscriber: S, qos: QoS) => void): void {
  if (node?.subscribers) {
    for (const [subscriber, qos] of node.subscribers) {
      visit(subscriber, qos);
    }
  }
}

function walk<S>(
  node: Node<S>,
  levels: string[],
  depth: number,
  dollar: boolean,
  visit: (subscriber: S, qos: QoS) => void,
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
