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
  shareGroup?: string,
): SubscriptionOptions {
  return {
    qos,
    noLocal: request.noLocal ?? false,
    retainAsPublished: request.retainAsPublished ?? false,
    retainHandling: request.retainHandling ?? 0,
    subscriptionId,
    shareGroup,
  };
}

/**
 * How a subscriber can take one more message of a shared subscription: {@link ROOM_NOW} (it can
 * be sent at once), {@link ROOM_QUEUE} (it waits in the session's queue), or 0 (it would be
 * dropped).
 */
export type Room = 0 | 1 | 2;
/** See {@link Room}. */
export const ROOM_QUEUE = 1;
/** See {@link Room}. */
export const ROOM_NOW = 2;

/**
 * What routing delivers to: a client's session, or an embedder's local subscription. The route
 * fields are scratch for combining overlapping subscriptions during one routing.
 */
export interface Subscriber {
  routeMark: number;
  /** The highest QoS among the matching subscriptions. */
  routeQos: QoS;
  /** Whether a matching subscription has retain-as-published. */
  routeRetain: boolean;
  /** The identifiers of the matching subscriptions that have one. */
  routeIds: number[] | undefined;
  /** Whose topic checks apply to deliveries; undefined for the embedder, who needs none. */
  readonly info: ClientInfo | undefined;
  /**
   * Delivers a message at `qos` (already the minimum of publish and subscription), with the
   * subscription identifiers `ids`; `group` is the shared subscription it was chosen for.
   */
  deliver(
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    ids?: readonly number[],
    group?: ShareGroup<Subscriber>,
  ): void;
  /** Whether it can take a message at `qos` for a shared subscription now. */
  room(qos: QoS): Room;
}

/**
 * The members of one shared subscription (`$share/{name}/{filter}`), served round-robin: each
 * message goes to one of them.
 */
export class ShareGroup<S> {
  readonly #members = new Map<S, { subscriber: S; options: SubscriptionOptions }>();
  /** The members in the order they joined, for round-robin. */
  #order: { subscriber: S; options: SubscriptionOptions }[] = [];
  #next = 0;

  constructor(readonly name: string, readonly filter: string) {}

  /** Number of members. */
  get size(): number {
    return this.#order.length;
  }

  /** Adds a member, or replaces its options; returns whether it is new. */
  add(subscriber: S, options: SubscriptionOptions): boolean {
    const member = this.#members.get(subscriber);
    if (member) {
      member.options = options;
      return false;
    }
    const entry = { subscriber, options };
    this.#members.set(subscriber, entry);
    this.#order.push(entry);
    return true;
  }

  /** Removes a member; returns whether it was one. */
  delete(subscriber: S): boolean {
    const member = this.#members.get(subscriber);
    if (!member) return false;
    this.#members.delete(subscriber);
    const at = this.#order.indexOf(member);
    this.#order.splice(at, 1);
    if (this.#next > at) this.#next--;
    return true;
  }

  /** A member's options, if it is one. */
  options(subscriber: S): SubscriptionOptions | undefined {
    return this.#members.get(subscriber)?.options;
  }

  /**
   * The next member, round-robin, whose `room` says {@link ROOM_NOW}; failing that the first
   * one found that can queue; undefined when none can take it. The scan stops at the first
   * member with room, so a group whose members keep up costs one check per message.
   */
  pick(
    room: (subscriber: S, options: SubscriptionOptions) => Room,
    except?: S,
  ): { subscriber: S; options: SubscriptionOptions } | undefined {
    const order = this.#order;
    const n = order.length;
    let fallback = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      const member = order[i];
      if (member.subscriber === except) continue;
      const r = room(member.subscriber, member.options);
      if (r === ROOM_NOW) {
        this.#next = i + 1;
        return member;
      }
      if (r === ROOM_QUEUE && fallback < 0) fallback = i;
    }
    if (fallback < 0) return undefined;
    this.#next = fallback + 1;
    return order[fallback];
  }
}

class Node<S> {
  children: Map<string, Node<S>> | undefined;
  subscribers: Map<S, SubscriptionOptions> | undefined;
  /** Shared subscriptions to this node's filter, by share name. */
  groups: Map<string, ShareGroup<S>> | undefined;

  isEmpty(): boolean {
    return !this.subscribers?.size && !this.children?.size && !this.groups?.size;
  }
}

/** What {@link SubscriptionTree.match} calls for each matching subscription. */
export type Visitor<S> = (subscriber: S, options: SubscriptionOptions) => void;

/** What {@link SubscriptionTree.match} calls for each matching shared subscription. */
export type GroupVisitor<S> = (group: ShareGroup<S>) => void;

function noGroups(): void {}

/** Subscribers of type `S` by topic filter. */
export class SubscriptionTree<S> {
  #root = new Node<S>();
  #count = 0;
  /**
   * Told when a filter (of a share group, if given) gets its first subscriber or loses its last:
   * the cluster announces the filters of this node to the others.
   */
  onInterest: ((filter: string, group: string | undefined, added: boolean) => void) | undefined;

  /** Number of (filter, subscriber) pairs. */
  get size(): number {
    return this.#count;
  }

  /**
   * Adds or replaces a subscription; with `options.shareGroup`, a membership of that group's
   * shared subscription to `filter` (the filter inside `$share/{group}/`).
   */
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
    const name = options.shareGroup;
    if (name !== undefined) {
      node.groups ??= new Map();
      let group = node.groups.get(name);
      if (!group) {
        group = new ShareGroup<S>(name, filter);
        node.groups.set(name, group);
        this.onInterest?.(filter, name, true);
      }
      if (group.add(subscriber, options)) this.#count++;
      return;
    }
    node.subscribers ??= new Map();
    if (!node.subscribers.has(subscriber)) {
      this.#count++;
      if (node.subscribers.size === 0) this.onInterest?.(filter, undefined, true);
    }
    node.subscribers.set(subscriber, options);
  }

  /** The shared subscription of group `name` to `filter`, if it has members. */
  group(filter: string, name: string): ShareGroup<S> | undefined {
    let node: Node<S> | undefined = this.#root;
    for (const level of filter.split("/")) {
      node = node.children?.get(level);
      if (!node) return undefined;
    }
    return node.groups?.get(name);
  }

  /**
   * Removes a subscription (of group `shareGroup` to `filter`, if given); returns whether it
   * existed. Prunes emptied branches.
   */
  remove(filter: string, subscriber: S, shareGroup?: string): boolean {
    const path: Node<S>[] = [this.#root];
    const levels = filter.split("/");
    for (const level of levels) {
      const child = path[path.length - 1].children?.get(level);
      if (!child) return false;
      path.push(child);
    }
    const node = path[path.length - 1];
    let removed: boolean;
    if (shareGroup === undefined) {
      removed = node.subscribers?.delete(subscriber) ?? false;
      if (removed && node.subscribers!.size === 0) this.onInterest?.(filter, undefined, false);
    } else {
      const group = node.groups?.get(shareGroup);
      removed = group?.delete(subscriber) ?? false;
      if (group?.size === 0) {
        node.groups!.delete(shareGroup);
        this.onInterest?.(filter, shareGroup, false);
      }
    }
    if (!removed) return false;
    this.#count--;
    for (let i = levels.length; i > 0 && path[i].isEmpty(); i--) {
      path[i - 1].children!.delete(levels[i - 1]);
    }
    return true;
  }

  /**
   * Calls `visit` for every subscription matching `topic`, and `visitGroup` for every matching
   * shared subscription; a subscriber with several matching filters is visited once per filter
   * (the caller combines them).
   */
  match(topic: string, visit: Visitor<S>, visitGroup: GroupVisitor<S> = noGroups): void {
    const levels = topic.split("/");
    walk(this.#root, 0, { levels, dollar: topic.charCodeAt(0) === 0x24, visit, visitGroup });
  }
}

/** What stays the same during one {@link SubscriptionTree.match}: fewer arguments per level. */
interface Walk<S> {
  readonly levels: string[];
  /** Whether the topic starts with `$`. */
  readonly dollar: boolean;
  readonly visit: Visitor<S>;
  readonly visitGroup: GroupVisitor<S>;
}

function visitAll<S>(node: Node<S> | undefined, w: Walk<S>): void {
  if (!node) return;
  if (node.subscribers) {
    const visit = w.visit;
    for (const [subscriber, options] of node.subscribers) visit(subscriber, options);
  }
  if (node.groups) { for (const group of node.groups.values()) w.visitGroup(group); }
}

function walk<S>(node: Node<S>, depth: number, w: Walk<S>): void {
  const children = node.children;
  const levels = w.levels;
  if (depth === levels.length) {
    visitAll(node, w);
    // `a/#` also matches `a` itself.
    if (children) visitAll(children.get("#"), w);
    return;
  }
  if (!children) return;
  // Wildcards in the first level never match topics that start with `$`.
  const wild = !(depth === 0 && w.dollar);
  if (wild) {
    visitAll(children.get("#"), w);
    const plus = children.get("+");
    if (plus) walk(plus, depth + 1, w);
  }
  const exact = children.get(levels[depth]);
  if (exact) walk(exact, depth + 1, w);
}
