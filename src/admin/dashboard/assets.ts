/**
 * The dashboard's files as responses, by path. They hold no data (that comes from `/api/`), so
 * they are served without a login; a strict Content-Security-Policy lets the page load script,
 * style and data from this listener only.
 *
 * @module
 */
import { COMMON_HEADERS } from "../respond.ts";
import { DASHBOARD_CSS, INDEX_HTML } from "./page.ts";
import { DASHBOARD_JS } from "./script.ts";

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
  "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const FILES: Readonly<Record<string, readonly [type: string, body: string]>> = {
  "/": ["text/html; charset=utf-8", INDEX_HTML],
  "/dashboard.js": ["text/javascript; charset=utf-8", DASHBOARD_JS],
  "/dashboard.css": ["text/css; charset=utf-8", DASHBOARD_CSS],
};

/** The paths of the dashboard's files. */
export const DASHBOARD_PATHS: ReadonlySet<string> = new Set(Object.keys(FILES));

/** Bytes of the dashboard's files together, as served (UTF-8). */
export const DASHBOARD_BYTES: number = Object.values(FILES)
  .reduce((n, [, body]) => n + new TextEncoder().encode(body).byteLength, 0);

/** The dashboard file at `path`, or undefined. */
export function dashboardFile(path: string): Response | undefined {
  const file = FILES[path];
  if (!file) return undefined;
  return new Response(file[1], {
    headers: { ...COMMON_HEADERS, "content-type": file[0], "content-security-policy": CSP },
  });
}
