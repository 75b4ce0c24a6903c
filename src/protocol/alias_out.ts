/**
 * The topic aliases the broker gives one 5.0 connection for the topics it sends it (MQTT 5.0
 * 3.3.2.3.4): the first topics sent get aliases, up to the client's Topic Alias Maximum and
 * {@link MAX_OUTBOUND_ALIASES}, and keep them for the connection's life. No replacement: a
 * stable table costs one Map lookup per PUBLISH and never has to tell the client anything new.
 * A new connection starts with an empty table, as the protocol requires.
 *
 * @module
 */

/**
 * Most aliases given to one connection, whatever larger maximum the client allows: the table is
 * state the broker keeps per connection, so it is bounded, and the topics a client receives most
 * are usually among the first it receives.
 */
export const MAX_OUTBOUND_ALIASES = 64;

/** One connection's outbound topic aliases. */
export class OutboundAliases {
  readonly #byTopic = new Map<string, number>();

  /** Number of aliases given. */
  get size(): number {
    return this.#byTopic.size;
  }

  /**
   * The alias to send `topic` with, assuming the PUBLISH is sent: `n` when the client knows
   * alias `n` already (send an empty topic name), `-n` when it is new (send topic and alias), 0
   * when there is none to give (`maximum` is the client's Topic Alias Maximum).
   */
  use(topic: string, maximum: number): number {
    const known = this.#byTopic.get(topic);
    if (known !== undefined) return known;
    const next = this.#byTopic.size + 1;
    if (next > maximum || next > MAX_OUTBOUND_ALIASES) return 0;
    this.#byTopic.set(topic, next);
    return -next;
  }
}
