/**
 * The Node adapter: `node:net` and `node:tls` for TCP and TLS, and the `ws` package on a
 * `node:http`/`node:https` server for WS and WSS, since Node has no WebSocket server of its own.
 *
 * WebSocket accepts any path (`/mqtt` is the one clients usually ask for), answers the
 * subprotocol `mqtt` or `mqttv3.1` when offered, and accepts clients that offer none.
 *
 * The Deno adapter reuses this file where Deno's own APIs fall short (see `deno.ts`).
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { type WebSocket, WebSocketServer } from "ws";
import {
  chooseSubprotocol,
  CLOSE_LINGER_MS,
  closedError,
  listenError,
  TLS_HANDSHAKE_TIMEOUT_MS,
  WS_MAX_MESSAGE_BYTES,
  WS_SEND_BUFFER_BYTES,
} from "./shared.ts";
import { HandOn } from "./hand_on.ts";
import { type ByteTransport, StreamConnection } from "./stream_connection.ts";
import type {
  Connection,
  ListenOptions,
  RemoteAddr,
  RuntimeAdapter,
  ServeOptions,
  Server,
  Transport,
} from "./types.ts";
import { nodeRequestListener } from "./node_http.ts";

function remoteOf(socket: net.Socket, transport: Transport): RemoteAddr {
  return { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0, transport };
}

/**
 * A TCP or TLS socket's side of its `StreamConnection`. A class, and event handlers shared by
 * every socket, rather than closures per connection: they are much of what an idle one costs.
 */
class NodeTcpTransport implements ByteTransport {
  readonly conn: StreamConnection;
  readonly #socket: net.Socket;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: net.Socket, transport: Transport) {
    this.#socket = socket;
    this.conn = new StreamConnection(this, remoteOf(socket, transport));
  }

  write(chunk: Uint8Array): boolean {
    return this.#socket.write(chunk);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(_readingPaused: boolean, peerDone: boolean): void {
    const socket = this.#socket;
    // The peer is done and the kernel has every byte: closing the descriptor sends them and a
    // FIN, as the half-close below would, without its shutdown, its stream callbacks and its
    // timer (most of what closing costs here). Not for TLS, whose close alert `end` sends.
    if (peerDone && socket.writableLength === 0 && !(socket instanceof tls.TLSSocket)) {
      socket.destroy();
      return;
    }
    // Flush what Node still holds, send FIN, then free the socket; keep draining input so the
    // kernel does not answer the peer with a reset. A peer that never reads is dropped later.
    socket.resume();
    socket.destroySoon();
    if (!socket.destroyed) {
      this.#lingerTimer = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
      this.#lingerTimer.unref();
    }
  }

  closed(): void {
    clearTimeout(this.#lingerTimer);
    this.conn.shut();
  }
}

/** The transport of a socket that `socketConnection` made, on the socket itself. */
const TRANSPORT = Symbol("transport");

type TransportSocket = net.Socket & { [TRANSPORT]: NodeTcpTransport };

function onSocketData(this: TransportSocket, chunk: Buffer): void {
  // Node hands out a fresh Buffer per read, so chunks go to the consumer without a copy.
  this[TRANSPORT].conn.push(chunk);
}

function onSocketDrain(this: TransportSocket): void {
  this[TRANSPORT].conn.drained();
}

function onSocketEnd(this: TransportSocket): void {
  this[TRANSPORT].conn.endRead();
}

/** A reset or a failed write only ends this connection; 'close' follows and cleans up. */
function onSocketError(): void {}

function onSocketClose(this: TransportSocket): void {
  this[TRANSPORT].closed();
}

function socketConnection(socket: net.Socket, transport: Transport): Connection {
  const tcp = new NodeTcpTransport(socket, transport);
  (socket as TransportSocket)[TRANSPORT] = tcp;
  socket.on("data", onSocketData);
  socket.on("drain", onSocketDrain);
  socket.on("end", onSocketEnd);
  socket.on("error", onSocketError);
  socket.on("close", onSocketClose);
  return tcp.conn;
}

const SEND_OPTIONS = { binary: true, compress: false, fin: true };

function webSocketConnection(ws: WebSocket, socket: net.Socket, transport: Transport): Connection {
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  const conn = new StreamConnection({
    write(chunk) {
      if (ws.bufferedAmount < WS_SEND_BUFFER_BYTES) {
        ws.send(chunk, SEND_OPTIONS);
        return true;
      }
      // The callback runs once this frame, and so every frame before it, reached the kernel.
      return new Promise<void>((resolve, reject) => {
        ws.send(chunk, SEND_OPTIONS, (err) => (err ? reject(closedError()) : resolve()));
      });
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close() {
      ws.close(1000);
      // ws waits up to 30 s for the peer's close frame on a timer that holds the process; ours
      // does not, and ending the socket clears theirs.
      lingerTimer = setTimeout(() => ws.terminate(), CLOSE_LINGER_MS);
      lingerTimer.unref();
    },
  }, remoteOf(socket, transport));

  // With the default binaryType, ws delivers each message as a Buffer of its own.
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (conn.closed) return;
    if (!isBinary) {
      ws.close(1003, "binary frames only");
      conn.shut();
      return;
    }
    conn.push(data);
  });
  ws.on("error", () => {});
  ws.on("close", () => {
    clearTimeout(lingerTimer);
    conn.shut();
  });
  return conn;
}

function tlsServerOptions(
  options: Pick<ListenOptions, "tls" | "handshakeTimeoutMs">,
): tls.TlsOptions {
  const { cert, key, ca } = options.tls!;
  return {
    cert,
    key,
    ca,
    requestCert: ca !== undefined,
    rejectUnauthorized: true,
    handshakeTimeout: options.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

/**
 * A failed or timed-out handshake: listening to `tlsClientError` keeps the error from being
 * thrown, but also leaves closing the socket to us (a timed-out one would stay open). The peer's
 * address is taken when the plain socket arrives: by the time a handshake fails, the TLS socket
 * and the socket under it may both have forgotten it.
 */
function reportFailedHandshakes(server: net.Server, options: ListenOptions): void {
  const peers = new WeakMap<net.Socket, { hostname: string; port: number }>();
  server.on("connection", (raw: net.Socket) => {
    peers.set(raw, { hostname: raw.remoteAddress ?? "", port: raw.remotePort ?? 0 });
  });
  server.on("tlsClientError", (error: Error & { reason?: string }, socket: tls.TLSSocket) => {
    const raw = (socket as { _parent?: net.Socket })._parent;
    const peer = (raw && peers.get(raw)) ??
      { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 };
    // OpenSSL's `reason` without the error-stack text around it, when there is one.
    options.onHandshakeError?.(peer, error.reason ?? error.message);
    socket.destroy();
  });
}

/** A TLS, WS or WSS server (plain TCP is {@link listenTcp}'s). */
function createServer(options: ListenOptions): net.Server {
  const secure = options.tls !== undefined;
  if (options.type === "tcp") {
    const server = tls.createServer(tlsServerOptions(options));
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.setNoDelay(true);
      options.onConnection(socketConnection(socket, "tls"));
    });
    reportFailedHandshakes(server, options);
    return server;
  }

  const transport: Transport = secure ? "wss" : "ws";
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WS_MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    handleProtocols: (offered) => chooseSubprotocol([...offered].join(",")) ?? false,
  });
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(426, { connection: "close", upgrade: "websocket" }).end();
  };
  const server = secure
    ? https.createServer(tlsServerOptions(options), refuse)
    : http.createServer(refuse);
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.setNoDelay(true);
    wss.handleUpgrade(req, socket, head, (ws) => {
      options.onConnection(webSocketConnection(ws, socket, transport));
    });
  });
  if (secure) reportFailedHandshakes(server, options);
  server.on("clientError", (_err: Error, socket: net.Socket) => socket.destroy());
  return server;
}

/** Binds `server` on `hostname:port`; `stop` runs when the returned server is closed. */
function bind(
  server: net.Server,
  hostname: string,
  port: number,
  stop: () => void = () => server.close(),
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(listenError(hostname, port, err));
    server.once("error", onError);
    server.listen(port, hostname, () => {
      server.off("error", onError);
      server.on("error", () => {});
      const bound = (server.address() as net.AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        hostname,
        port: bound,
        close() {
          // net.Server's own callback waits for every accepted socket to end, but the listening
          // socket is released at once; the next turn is enough to bind the port again.
          closing ??= new Promise((done) => {
            stop();
            setImmediate(done);
          });
          return closing;
        },
      });
    });
  });
}

/**
 * Plain TCP, its connections handed on in slices (see hand_on.ts): libuv accepts every waiting
 * connection in one go, so each stays paused, reading nothing, until its turn comes.
 */
function listenTcp(options: ListenOptions): Promise<Server> {
  const handOn = new HandOn<net.Socket>((socket) => {
    socket.setNoDelay(true);
    options.onConnection(socketConnection(socket, "tcp"));
    socket.resume();
  });
  const server = net.createServer({ pauseOnConnect: true }, (socket) => handOn.offer(socket));
  return bind(server, options.hostname, options.port, () => {
    server.close();
    for (const socket of handOn.close()) socket.destroy();
  });
}

/** Binds a server with Node's APIs; the Deno adapter uses it too (not for plain TCP). */
export function listenWithNodeApis(options: ListenOptions): Promise<Server> {
  if (options.type === "tcp" && options.tls === undefined) return listenTcp(options);
  return bind(createServer(options), options.hostname, options.port);
}

/** Serves HTTP or HTTPS with `node:http`/`node:https`; the Deno adapter uses it too. */
export function serveWithNodeApis(options: ServeOptions): Promise<Server> {
  const secure = options.tls !== undefined;
  const listener = nodeRequestListener(options.handler, secure);
  const server = secure
    ? https.createServer(
      tlsServerOptions(options),
      listener,
    )
    : http.createServer(listener);
  if (secure) server.on("tlsClientError", (_err: Error, socket: net.Socket) => socket.destroy());
  server.on("clientError", (_err: Error, socket: net.Socket) => socket.destroy());
  // Admin requests are short: a streamed response (the dashboard's live view) ends with the
  // server rather than holding the process open.
  return bind(server, options.hostname, options.port, () => {
    server.close();
    server.closeAllConnections();
  });
}

/** The adapter for Node. */
export const nodeAdapter: RuntimeAdapter = {
  name: "node",
  listen: listenWithNodeApis,
  serve: serveWithNodeApis,
};
