/**
 * Responses of the HTTP listener, with the headers every one carries: nothing is cached,
 * nothing is sniffed, no page may frame another.
 *
 * @module
 */

/** Headers on every answer. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

/** A plain-text answer. */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** A JSON answer. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "application/json", ...headers },
  });
}
