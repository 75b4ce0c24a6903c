/**
 * Retained messages in a trie over topic levels, queried by topic filter when a client
 * subscribes, and bounded in count and bytes.
 *
 * @module
 */
import { ExpiryQueue } from "./expiry.ts";
import type { RoutedMessage } from "./message.ts";

/**
 * One topic's place in the store. Its `message` is read when it is sent, not when it was found:
 * a subscriber whose retained messages go out slowly gets the current one, never an outdated one.
 */
export interface RetainedEntry {
  /** Undefined once the topic's retained message is deleted. */
  readonly message: RoutedMessage | undefined;
}

/** Bounds of a {@link RetainedStore}; 0 means no limit. */
export interface RetainedBounds {
  readonly maxMessages: number;
  /** Topic and payload bytes, as {@link RoutedMessage.size} counts them. */
  readonly maxBytes: number;
}

class Node implements RetainedEntry {
  children: Map<string, Node> | undefined;
  message: RoutedMessage | undefined;
}

/** The last retained message of every topic. */
export class RetainedStore {
  #root = new Node();
  /** The stored messages that have a Message Expiry Interval, by when they expire. */
  readonly #expiring = new ExpiryQueue<Node>();
  #count = 0;
  #bytes = 0;

  constructor(readonly bounds: RetainedBounds = { maxMessages: 0, maxBytes: 0 }) {}

  /** Number of retained messages. */
  get size(): number {
    return this.#count;
  }

  /** Topic and payload bytes of the retained messages. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Stores `message` for its topic, or deletes the topic's message when the payload is empty.
   * Returns false when storing it would exceed a bound: nothing is stored then, and the topic's
   * previous message is deleted, since handing it to new subscribers would present an outdated
   * value as the current one.
   */
  set(message: RoutedMessage): boolean {
    const levels = message.topic.split("/");
    if (message.payload.length === 0) {
      this.#delete(levels);
      return true;
    }
    const old = this.#find(levels)?.message;
    const count = this.#count + (old ? 0 : 1);
    const bytes = this.#bytes - (old ? old.size : 0) + message.size;
    const { maxMessages, maxBytes } = this.bounds;
    if ((maxMessages > 0 && count > maxMessages) || (maxBytes > 0 && bytes > maxBytes)) {
      if (old) this.#delete(levels);
      return false;
    }
    let node = this.#root;
    for (const level of levels) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = new Node();
        node.children.set(level, child);
      }
      node = child;
    }
    node.message = message.own();
    if (message.expiresAt) this.#expiring.set(node, message.expiresAt);
    else this.#expiring.delete(node);
    this.#count = count;
    this.#bytes = bytes;
    return true;
  }

  #find(levels: string[]): Node | undefined {
    let node: Node | undefined = this.#root;
    for (const level of levels) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node;
  }

  #delete(levels: string[]): void {
    const path: Node[] = [this.#root];
    for (const level of levels) {
      const child = path[path.length - 1].children?.get(level);
      if (!child) return;
      path.push(child);
    }
    const node = path[path.length - 1];
    if (!node.message) return;
    this.#expiring.delete(node);
    this.#bytes -= node.message.size;
    node.message = undefined;
    this.#count--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.message || n.children?.size) break;
      path[i - 1].children!.delete(levels[i - 1]);
    }
  }

  /**
   * Deletes the messages whose Message Expiry Interval has passed by `now`; returns how many.
   * Cheap when none is due (a heap), so the broker's sweep calls it often; senders also skip an
   * expired message they meet before the sweep does.
   */
  expire(now: number): number {
    let expired = 0;
    let node: Node | undefined;
    while ((node = this.#expiring.pop(now))) {
      const message = node.message;
      if (!message) continue;
      this.#delete(message.topic.split("/"));
      expired++;
    }
    return expired;
  }

  /**
   * The entries whose topic `filter` matches, found lazily as the caller asks for them: a
   * subscriber that takes its retained messages slowly holds a cursor, not a copy of the matches.
   * Topics stored or deleted meanwhile may or may not be visited.
   */
  matching(filter: string): Iterator<RetainedEntry> {
    return collect(this.#root, filter.split("/"), 0);
  }
}

function* everything(node: Node): Generator<Node> {
  if (node.message) yield node;
  if (node.children) { for (const child of node.children.values()) yield* everything(child); }
}

function* collect(node: Node, filter: string[], depth: number): Generator<Node> {
  if (depth === filter.length) {
    if (node.message) yield node;
    return;
  }
  const level = filter[depth];
  if (level === "#") {
    // `a/#` matches `a` too; `#` and `+` at the first level skip `$` topics.
    if (depth > 0 && node.message) yield node;
    if (!node.children) return;
    for (const [name, child] of node.children) {
      if (depth === 0 && name.startsWith("$")) continue;
      yield* everything(child);
    }
    return;
  }
  if (!node.children) return;
  if (level === "+") {
    for (const [name, child] of node.children) {
      if (depth === 0 && name.startsWith("$")) continue;
      yield* collect(child, filter, depth + 1);
    }
    return;
  }
  const child = node.children.get(level);
  if (child) yield* collect(child, filter, depth + 1);
}
