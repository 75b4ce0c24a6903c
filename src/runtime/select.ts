/**
 * Picks the adapter for the runtime we are on. Each adapter is loaded with a literal dynamic
 * import, so only the chosen one runs while `deno compile` and `bun build --compile` still bundle
 * all of them.
 *
 * @module
 */
import type { RuntimeAdapter } from "./types.ts";

/** The adapter for the current runtime: Deno, Bun, or else Node. */
export async function getRuntimeAdapter(): Promise<RuntimeAdapter> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).denoAdapter;
  if ("Bun" in globalThis) return (await import("./bun.ts")).bunAdapter;
  return (await import("./node.ts")).nodeAdapter;
}
