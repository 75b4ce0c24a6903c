/**
 * The package version. `package.json` is the source of truth: `npm version` rewrites this file
 * and `deno.json` through `scripts/sync-version.ts`, and a test checks all three agree.
 *
 * @module
 */

/** The broker's version. */
export const VERSION = "0.1.0";
