/**
 * `/readyz`: named checks that each say whether one part of the broker can serve. The broker adds
 * `listeners`; a store or a cluster adds its own with {@link Readiness.add}.
 *
 * @module
 */

/** One check: true when ready; it may be async (a store's ping) and must not throw. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/** The checks `/readyz` runs, in the order added. */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();

  /** Adds (or replaces) the check called `name`. */
  add(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** Every check's result, by name; a check that throws counts as not ready. */
  async run(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = {};
    let ready = true;
    for (const [name, check] of this.#checks) {
      let ok: boolean;
      try {
        ok = await check();
      } catch {
        ok = false;
      }
      checks[name] = ok;
      ready &&= ok;
    }
    return { ready, checks };
  }
}
