/**
 * Who may use the HTTP listener. Without admin users only loopback clients may, like the
 * loopback-only default MQTT listener, and only under a loopback host name, so that a web page
 * elsewhere cannot reach the API by pointing its own name at 127.0.0.1 (DNS rebinding). The
 * health endpoints are public, since orchestrators probe them from outside and they tell
 * nothing; `/metrics` is public when `admin.public-metrics` says so.
 *
 * @module
 */

/** Paths anyone may request. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/** Whether `hostname` (as a socket reports it, or from a URL) is a loopback address. */
export function isLoopback(hostname: string): boolean {
  const address = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/^::ffff:/, "");
  return address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Whether a URL's host name names this machine: `localhost`, `*.localhost` or a loopback IP. */
export function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase();
  return name === "localhost" || name.endsWith(".localhost") || isLoopback(name);
}

/**
 * Whether a request that changes something comes from a page of this listener: browsers send
 * `Origin` with such requests, and one from another site is refused. Clients that send none
 * (curl, scripts) are not browsers and are not affected.
 */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  return origin === null || origin === new URL(request.url).origin;
}
