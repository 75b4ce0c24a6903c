/**
 * Which node wants which message: a trie of the filters every node announced, this one's shared
 * subscriptions included (a shared subscription's turn goes round the nodes that have members).
 * Plain filters of this node are not in it: local routing serves them.
 *
 * @module
 */
import { sharedFilter } from "../protocol/topic.ts";
import type { ShareKey } from "../broker/cluster_seam.ts";
import {
  ROOM_NOW,
  type ShareGroup,
  type SubscriptionOptions,
  SubscriptionTree,
} from "../broker/subscriptions.ts";

const PLAIN: SubscriptionOptions = {
  qos: 2,
  noLocal: false,
  retainAsPublished: true,
  retainHandling: 0,
};

/** Where one message goes among the other nodes. */
export interface Targets {
  /** By node: whether its plain subscriptions get it, and the shared subscriptions that do. */
  readonly nodes: Map<string, { plain: boolean; shares: ShareKey[] }>;
  /** The `filter\0group` of the shared subscriptions whose turn is this node's. */
  readonly local: Set<string>;
}

const NOWHERE: Targets = { nodes: new Map(), local: new Set() };

/** The key of a shared subscription in {@link Targets.local}. */
export function shareKey(filter: string, group: string): string {
  return `${filter}\0${group}`;
}

/** The filters of every node, for routing. */
export class Interest {
  readonly #tree = new SubscriptionTree<string>();
  /** By node: the filters as announced (`$share/...` for shared ones). */
  readonly #byNode = new Map<string, Set<string>>();
  readonly #groupOptions = new Map<string, SubscriptionOptions>();

  constructor(readonly self: string) {}

  /** The nodes known to have filters. */
  get nodes(): IterableIterator<string> {
    return this.#byNode.keys();
  }

  /** `node` announced `filter` (`$share/{group}/{filter}` for a shared one). */
  add(node: string, filter: string): void {
    let set = this.#byNode.get(node);
    if (!set) this.#byNode.set(node, set = new Set());
    if (set.has(filter)) return;
    set.add(filter);
    const shared = sharedFilter(filter);
    if (shared) this.#tree.add(shared.filter, node, this.#options(shared.group));
    else if (node !== this.self) this.#tree.add(filter, node, PLAIN);
  }

  /** `node` no longer holds `filter`. */
  remove(node: string, filter: string): void {
    const set = this.#byNode.get(node);
    if (!set?.delete(filter)) return;
    if (set.size === 0) this.#byNode.delete(node);
    const shared = sharedFilter(filter);
    if (shared) this.#tree.remove(shared.filter, node, shared.group);
    else if (node !== this.self) this.#tree.remove(filter, node);
  }

  /** Forgets every filter of `node` (it left, or announces them all again). */
  forget(node: string): void {
    const set = this.#byNode.get(node);
    if (!set) return;
    for (const filter of [...set]) this.remove(node, filter);
  }

  /** Replaces what `node` announced by `filters`. */
  replace(node: string, filters: Iterable<string>): void {
    const next = new Set(filters);
    for (const filter of [...(this.#byNode.get(node) ?? [])]) {
      if (!next.has(filter)) this.remove(node, filter);
    }
    for (const filter of next) this.add(node, filter);
  }

  /** The filters `node` holds (this node's own, for announcing them again). */
  filtersOf(node: string): ReadonlySet<string> {
    return this.#byNode.get(node) ?? new Set();
  }

  /**
   * Where a message on `topic` goes: the other nodes with a matching plain filter, and for each
   * matching shared subscription the next node in its turn (this one included).
   */
  match(topic: string): Targets {
    // Nothing anywhere else: no allocation on a lone node's hot path.
    if (this.#tree.size === 0) return NOWHERE;
    const nodes = new Map<string, { plain: boolean; shares: ShareKey[] }>();
    const local = new Set<string>();
    const entry = (node: string) => {
      let e = nodes.get(node);
      if (!e) nodes.set(node, e = { plain: false, shares: [] });
      return e;
    };
    this.#tree.match(
      topic,
      (node) => entry(node).plain = true,
      (group: ShareGroup<string>) => {
        const member = group.pick(() => ROOM_NOW);
        if (!member) return;
        if (member.subscriber === this.self) local.add(shareKey(group.filter, group.name));
        else entry(member.subscriber).shares.push([group.filter, group.name]);
      },
    );
    return { nodes, local };
  }

  #options(group: string): SubscriptionOptions {
    let options = this.#groupOptions.get(group);
    if (!options) this.#groupOptions.set(group, options = { ...PLAIN, shareGroup: group });
    return options;
  }
}
