/**
 * Who may use the HTTP listener. Without admin users only loopback clients may, like the
 * loopback-only default MQTT listener; the health endpoints are public, since orchestrators probe
 * them from outside and they tell nothing.
 *
 * @module
 */

/** Paths anyone may request. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"]);

/** Whether `hostname` (as a socket reports it) is a loopback address. */
export function isLoopback(hostname: string): boolean {
  const address = hostname.toLowerCase().replace(/^::ffff:/, "");
  return address === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
