/**
 * Pieces every runtime adapter shares: limits, error wording and WebSocket subprotocol choice.
 *
 * @module
 */

/**
 * Bytes an adapter reads ahead of its consumer before it stops reading the socket. Large enough
 * to keep a busy connection streaming, small enough that ten thousand idle-but-flooded
 * connections do not add up.
 */
export const READ_AHEAD_BYTES = 64 * 1024;

/**
 * Bytes a WebSocket may hold queued for sending before a write waits. The TCP adapters use the
 * runtime's own socket buffer instead.
 */
export const WS_SEND_BUFFER_BYTES = 64 * 1024;

/** Largest WebSocket message accepted; bigger ones close the connection (code 1009). */
export const WS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * How long `close()` waits for queued bytes to reach a peer that does not read before it drops the
 * connection. The timer never keeps the process alive on its own.
 */
export const CLOSE_LINGER_MS = 2000;

/** How long a TLS handshake may take when `ListenOptions.handshakeTimeoutMs` is not given. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Subprotocols MQTT clients offer, in our order of preference. */
const MQTT_SUBPROTOCOLS = ["mqtt", "mqttv3.1"];

/**
 * The subprotocol to answer from a `Sec-WebSocket-Protocol` request header: `mqtt` or `mqttv3.1`
 * if the client offered one, otherwise `undefined` (the connection is accepted without one).
 */
export function chooseSubprotocol(offered: string | null | undefined): string | undefined {
  if (!offered) return undefined;
  const names = offered.split(",").map((name) => name.trim());
  return MQTT_SUBPROTOCOLS.find((name) => names.includes(name));
}

/** `host:port`, with IPv6 literals in brackets. */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  AddrInUse: "address already in use",
  EADDRNOTAVAIL: "address not available",
  AddrNotAvailable: "address not available",
  EACCES: "permission denied",
  PermissionDenied: "permission denied",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
};

/** Turns a runtime's bind failure into an error whose message starts with the address. */
export function listenError(hostname: string, port: number, cause: unknown): Error {
  const err = cause as { code?: unknown; name?: unknown; message?: unknown } | null;
  const key = typeof err?.code === "string" && err.code in REASONS
    ? err.code
    : typeof err?.name === "string" && err.name in REASONS
    ? err.name
    : undefined;
  const reason = key ? REASONS[key] : String(err?.message ?? cause);
  return new Error(`${formatAddress(hostname, port)}: ${reason}`, { cause });
}

/** The error pending and later writes reject with once a connection is closed. */
export function closedError(): Error {
  return new Error("connection closed");
}

/** Byte-counting strategy for the readable side, so read-ahead is bounded in bytes, not chunks. */
export const readStrategy: QueuingStrategy<Uint8Array> = {
  highWaterMark: READ_AHEAD_BYTES,
  size: (chunk) => chunk.byteLength,
};
