/**
 * Retained messages in a trie over topic levels, queried by topic filter when a client
 * subscribes.
 *
 * @module
 */
import type { RoutedMessage } from "./message.ts";

class Node {
  children: Map<string, Node> | undefined;
  message: RoutedMessage | undefined;
}

/** The last retained message of every topic. */
export class RetainedStore {
  #root = new Node();
  #count = 0;

  /** Number of retained messages. */
  get size(): number {
    return this.#count;
  }

  /** Stores `message` for its topic, or deletes the topic's message when the payload is empty. */
  set(message: RoutedMessage): void {
    const levels = message.topic.split("/");
    if (message.payload.length === 0) {
      this.#delete(levels);
      return;
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
    if (!node.message) this.#count++;
    node.message = message.own();
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
    node.message = undefined;
    this.#count--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.message || n.children?.size) break;
      path[i - 1].children!.delete(levels[i - 1]);
    }
  }

  /** Calls `visit` for every retained message whose topic `filter` matches. */
  match(filter: string, visit: (message: RoutedMessage) => void): void {
    collect(this.#root, filter.split("/"), 0, visit);
  }
}

function everything(node: Node, visit: (message: RoutedMessage) => void): void {
  if (node.message) visit(node.message);
  if (node.children) { for (const child of node.children.values()) everything(child, visit); }
}

function collect(
  node: Node,
  filter: string[],
  depth: number,
  visit: (message: RoutedMessage) => void,
): void {
  if (depth === filter.length) {
    if (node.message) visit(node.message);
    return;
  }
  const level = filter[depth];
  if (level === "#") {
    // `a/#` matches `a` too; `#` and `+` at the first level skip `$` topics.
    if (depth > 0 && node.message) visit(node.message);
    if (!node.children) return;
    for (const [name, child] of node.children) {
      if (depth === 0 && name.startsWith("$")) continue;
      everything(child, visit);
    }
    return;
  }
  if (!node.children) return;
  if (level === "+") {
    for (const [name, child] of node.children) {
      if (depth === 0 && name.startsWith("$")) continue;
      collect(child, filter, depth + 1, visit);
    }
    return;
  }
  const child = node.children.get(level);
  if (child) collect(child, filter, depth + 1, visit);
}
