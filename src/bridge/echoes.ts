/**
 * What a bridge to a 3.1.1 remote sent out on a `both` pattern, so that the copy the remote sends
 * back to the bridge's own subscription is recognised and dropped: 3.1.1 has no no-local.
 *
 * @module
 */

/** FNV-1a over the payload: cheap, and the topic and length are compared too. */
function hash(payload: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < payload.length; i++) h = Math.imul(h ^ payload[i], 0x01000193);
  return h >>> 0;
}

/** A short stand-in for a payload, for telling repeats apart without keeping the bytes. */
export function payloadKey(payload: Uint8Array): string {
  return `${payload.length}:${hash(payload)}`;
}

function key(topic: string, payload: Uint8Array): string {
  return `${payloadKey(payload)}:${topic}`;
}

/** A bounded multiset of (topic, payload) sent and not yet seen back. */
export class Echoes {
  readonly #counts = new Map<string, number>();

  /** @param max entries kept; the oldest go first (an echo that never came) */
  constructor(readonly max: number) {}

  /** Remembers a message sent to the remote. */
  add(topic: string, payload: Uint8Array): void {
    const k = key(topic, payload);
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
    if (this.#counts.size > this.max) {
      this.#counts.delete(this.#counts.keys().next().value!);
    }
  }

  /** Whether a message from the remote is the echo of one sent; forgets it if so. */
  take(topic: string, payload: Uint8Array): boolean {
    if (this.#counts.size === 0) return false;
    const k = key(topic, payload);
    const count = this.#counts.get(k);
    if (count === undefined) return false;
    if (count === 1) this.#counts.delete(k);
    else this.#counts.set(k, count - 1);
    return true;
  }
}
