/**
 * `host:port` addresses for `listeners.*.bind`.
 *
 * @module
 */

/** A parsed `bind`: the host as the runtime's listen call wants it (IPv6 without brackets). */
export interface BindAddress {
  hostname: string;
  port: number;
}

/** What {@link parseBind} returns: the address, or a hint on what is wrong (possibly none). */
export type BindResult = { address: BindAddress } | { address?: undefined; hint?: string };

function isIPv4(host: string): boolean {
  const parts = host.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && (p === "0" || p[0] !== "0"));
}

function isIPv6(host: string): boolean {
  const zone = host.indexOf("%");
  if (zone !== -1 && !/^%[\w.-]+$/.test(host.slice(zone))) return false;
  let address = zone === -1 ? host : host.slice(0, zone);
  // An embedded IPv4 tail (`::ffff:10.0.0.1`) takes the room of two groups.
  let groups = 0;
  const tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (tail) {
    if (!isIPv4(tail[1])) return false;
    address = address.slice(0, tail.index + 1) + "0";
    groups = 1;
  }
  const halves = address.split("::");
  if (halves.length > 2) return false;
  const hex = /^[0-9a-fA-F]{1,4}$/;
  for (const half of halves) {
    if (half === "") continue;
    const parts = half.split(":");
    if (!parts.every((p) => hex.test(p))) return false;
    groups += parts.length;
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

function isHostname(host: string): boolean {
  return host.length <= 253 &&
    host.split(".").every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

/** Parses `host:port` (`[::1]:1883` for IPv6); port 0 asks for any free port. */
export function parseBind(text: string): BindResult {
  let host: string;
  let port: string;
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (bracketed) {
    [, host, port] = bracketed;
    if (!isIPv6(host)) return { hint: `${host} is not an IPv6 address` };
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1) {
      return /^\d+$/.test(text) ? { hint: `write the host too, as 0.0.0.0:${text}` } : {};
    }
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) {
      return { hint: "write IPv6 addresses in brackets, as [::1]:1883" };
    }
    if (host === "") return { hint: "the host is missing; 0.0.0.0 means every interface" };
    if (/^[\d.]+$/.test(host) ? !isIPv4(host) : !isHostname(host)) {
      return { hint: `${host} is not an IPv4 address or host name` };
    }
  }
  if (!/^\d{1,5}$/.test(port)) return {};
  const number = Number(port);
  if (number > 65535) return { hint: "the port must be 0 to 65535" };
  return { address: { hostname: host, port: number } };
}
