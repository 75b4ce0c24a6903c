/**
 * The byte stream of a bridge's connection to its remote: TCP or TLS through `node:net` and
 * `node:tls`, WebSocket through the `ws` package; all three run on Deno, Bun and Node.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { WebSocket } from "ws";

/** What happens on a transport, in order: `open` once, `data` any number of times, `closed` once. */
export interface TransportEvents {
  open(): void;
  data(chunk: Uint8Array): void;
  closed(reason: string): void;
}

/** An open (or opening) connection to the remote. */
export interface Transport {
  /** Sends bytes; dropped once closed. */
  write(bytes: Uint8Array): void;
  /** Closes at once, or with `graceful` once what was written went out; `closed` follows. */
  close(graceful?: boolean): void;
}

/** PEM texts for TLS. */
export interface TransportTls {
  ca?: string;
  cert?: string;
  key?: string;
}

const DEFAULT_PORTS: Record<string, number> = {
  "mqtt:": 1883,
  "mqtts:": 8883,
  "ws:": 80,
  "wss:": 443,
};

/** Connects to `address` (mqtt://, mqtts://, ws:// or wss://). */
export function openTransport(
  address: string,
  secrets: TransportTls | undefined,
  events: TransportEvents,
): Transport {
  const url = new URL(address);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port === "" ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  if (url.protocol === "ws:" || url.protocol === "wss:") return webSocket(url, secrets, events);
  let closed = false;
  const socket = url.protocol === "mqtts:"
    ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...secrets })
    : net.connect({ host, port });
  // Acknowledgements and small PUBLISHes must not wait for Nagle's timer.
  socket.setNoDelay(true);
  socket.once(url.protocol === "mqtts:" ? "secureConnect" : "connect", () => events.open());
  socket.on("data", (chunk: Uint8Array) => events.data(chunk));
  let reason = "closed by the remote";
  socket.on("error", (e) => reason = e.message);
  socket.once("close", () => {
    closed = true;
    events.closed(reason);
  });
  return {
    write(bytes) {
      if (!closed) socket.write(bytes);
    },
    close(graceful) {
      if (graceful && !closed) socket.end(() => socket.destroy());
      else socket.destroy();
    },
  };
}

function webSocket(
  url: URL,
  secrets: TransportTls | undefined,
  events: TransportEvents,
): Transport {
  const ws = new WebSocket(url, ["mqtt"], { ...secrets });
  ws.binaryType = "nodebuffer";
  let reason = "closed by the remote";
  ws.once("open", () => events.open());
  ws.on("message", (data: Uint8Array) => events.data(data));
  ws.on("error", (e) => reason = e.message);
  ws.once("close", () => events.closed(reason));
  return {
    write(bytes) {
      if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
    },
    close(graceful) {
      // A close frame goes after what was sent; the remote ends the connection at our DISCONNECT.
      if (graceful && ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
    },
  };
}
