/**
 * The Bun adapter: `Bun.listen` for TCP and TLS, `Bun.serve` with its native `websocket` handlers
 * for WS and WSS.
 *
 * - Client certificates (`tls.ca`): both take `requestCert`/`rejectUnauthorized` with `ca`, and
 *   BoringSSL refuses certificates from other CAs during the handshake. `Bun.listen` without a
 *   `handshake` handler calls `open` even for a failed handshake (and reports `success` true with
 *   an `authorizationError` for a certificate from another CA), so a TLS connection is handed over
 *   from `handshake`, and only when it succeeded with no authorization error.
 * - Reads: `binaryType: "uint8array"` gives a fresh array per read, handed over without a copy;
 *   `socket.pause()`/`resume()` (and the same on a ServerWebSocket) stop reading while the
 *   consumer is behind.
 * - Writes: a TCP socket has no buffer of its own: `write` returns how much the kernel took, the
 *   rest waits here for `drain`. A ServerWebSocket queues what the kernel refused; a write waits
 *   for `drain` once that queue passes `WS_SEND_BUFFER_BYTES`.
 * - WebSocket accepts any path (`/mqtt` is the one clients usually ask for), answers `mqtt` or
 *   `mqttv3.1` when offered, and accepts clients that offer none.
 *
 * @module
 */
import {
  chooseSubprotocol,
  CLOSE_LINGER_MS,
  closedError,
  listenError,
  TLS_HANDSHAKE_TIMEOUT_MS,
  WS_MAX_MESSAGE_BYTES,
  WS_SEND_BUFFER_BYTES,
} from "./shared.ts";
import { type ByteTransport, StreamConnection } from "./stream_connection.ts";
import type { ListenOptions, RuntimeAdapter, ServeOptions, Server, Transport } from "./types.ts";

interface BunSocket {
  data: BunTcpTransport | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  timeout(seconds: number): void;
}

interface BunTlsConfig {
  cert: string;
  key: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
}

interface BunSocketHandlers {
  binaryType: "uint8array";
  open(socket: BunSocket): void;
  handshake(socket: BunSocket, success: boolean, authorizationError: Error | null): void;
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  timeout(socket: BunSocket): void;
  close(socket: BunSocket): void;
  error(socket: BunSocket, error: Error): void;
}

interface BunTcpListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface WsState {
  hostname: string;
  port: number;
  conn?: StreamConnection;
}

interface BunServerWebSocket {
  readonly data: WsState;
  sendBinary(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  getBufferedAmount(): number;
  pause(): void;
  resume(): void;
}

interface BunHttpServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void>;
  upgrade(request: Request, options: { headers?: HeadersInit; data: WsState }): boolean;
  requestIP(request: Request): { address: string; port: number } | null;
}

interface BunLike {
  listen(options: {
    hostname: string;
    port: number;
    exclusive: boolean;
    tls?: BunTlsConfig;
    socket: BunSocketHandlers;
  }): BunTcpListener;
  serve(options: {
    hostname: string;
    port: number;
    reusePort: boolean;
    development: boolean;
    tls?: BunTlsConfig;
    fetch(request: Request, server: BunHttpServer): Response | Promise<Response> | undefined;
    websocket?: {
      maxPayloadLength: number;
      backpressureLimit: number;
      closeOnBackpressureLimit: boolean;
      idleTimeout: number;
      sendPings: boolean;
      perMessageDeflate: boolean;
      open(ws: BunServerWebSocket): void;
      message(ws: BunServerWebSocket, message: string | Uint8Array): void;
      drain(ws: BunServerWebSocket): void;
      close(ws: BunServerWebSocket): void;
    };
  }): BunHttpServer;
}

/** A TCP or TLS socket's side of its `StreamConnection`, and the socket's `data`. */
class BunTcpTransport implements ByteTransport {
  readonly conn: StreamConnection;
  #socket: BunSocket;
  /** Bytes of the last write the kernel did not take yet. */
  #rest: Uint8Array | undefined;

  constructor(socket: BunSocket, transport: Transport) {
    this.#socket = socket;
    const remote = { hostname: socket.remoteAddress, port: socket.remotePort, transport };
    this.conn = new StreamConnection(this, remote);
  }

  write(chunk: Uint8Array): boolean {
    const written = this.#socket.write(chunk);
    if (written === chunk.byteLength) return true;
    if (written < 0) {
      this.conn.close();
      throw closedError();
    }
    this.#rest = chunk.subarray(written);
    return false;
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(readingPaused: boolean): void {
    this.#rest = undefined;
    // Bun's writes are unbuffered, so `end` only has a FIN to send. Reading resumes so the kernel
    // does not answer the peer with a reset; a peer that never closes its side is dropped by the
    // socket's own timeout, which holds no timer in JavaScript.
    if (readingPaused) this.#socket.resume();
    this.#socket.end();
    this.#socket.timeout(Math.ceil(CLOSE_LINGER_MS / 1000));
  }

  onDrain(): void {
    const rest = this.#rest;
    if (!rest) return;
    const written = this.#socket.write(rest);
    if (written < 0) return this.conn.close();
    if (written < rest.byteLength) {
      this.#rest = rest.subarray(written);
      return;
    }
    this.#rest = undefined;
    this.conn.drained();
  }

  onClose(): void {
    this.#rest = undefined;
    this.conn.shut();
  }
}

function wsConnection(ws: BunServerWebSocket, transport: Transport): StreamConnection {
  const remote = { hostname: ws.data.hostname, port: ws.data.port, transport };
  const conn = new StreamConnection({
    write(chunk) {
      const status = ws.sendBinary(chunk);
      if (status > 0) return true;
      if (status === 0) {
        // Dropped: only past `backpressureLimit`, which waiting on `drain` keeps us under.
        conn.close();
        throw closedError();
      }
      return ws.getBufferedAmount() < WS_SEND_BUFFER_BYTES;
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: () => ws.close(1000),
  }, remote);
  return conn;
}

function tlsConfig(options: Pick<ListenOptions, "tls">): BunTlsConfig | undefined {
  if (!options.tls) return undefined;
  const { cert, key, ca } = options.tls;
  return { cert, key, ca, requestCert: ca !== undefined, rejectUnauthorized: true };
}

/** Resolves on the next turn of the event loop, once Bun has released the listening socket. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function listenTcp(Bun: BunLike, options: ListenOptions): Server {
  const tls = tlsConfig(options);
  const transport: Transport = tls ? "tls" : "tcp";
  const verifyClients = tls?.ca !== undefined;
  const handshakeSeconds = Math.ceil(
    (options.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS) / 1000,
  );
  const refuse = (socket: BunSocket, reason: string) => {
    options.onHandshakeError?.({ hostname: socket.remoteAddress, port: socket.remotePort }, reason);
    socket.terminate();
  };
  // No setNoDelay: Bun sets TCP_NODELAY on every socket it accepts (checked with strace on Bun
  // 1.4.5): setting it again would cost a system call per connection.
  const accept = (socket: BunSocket) => {
    const data = new BunTcpTransport(socket, transport);
    socket.data = data;
    options.onConnection(data.conn);
  };
  const listener = Bun.listen({
    hostname: options.hostname,
    port: options.port,
    // Without it Bun sets SO_REUSEPORT, and a second broker on the same port would share it.
    exclusive: true,
    tls,
    socket: {
      binaryType: "uint8array",
      open(socket) {
        if (!tls) return accept(socket);
        socket.timeout(handshakeSeconds);
      },
      handshake(socket, success, authorizationError) {
        if (!success || (verifyClients && authorizationError)) {
          refuse(socket, authorizationError?.message ?? "TLS handshake failed");
          return;
        }
        socket.timeout(0);
        accept(socket);
      },
      timeout(socket) {
        // Only a stalled handshake or a closing socket's linger arms this timeout.
        if (!socket.data) refuse(socket, `TLS handshake not done in ${handshakeSeconds} s`);
        else socket.terminate();
      },
      data(socket, data) {
        socket.data?.conn.push(data);
      },
      drain(socket) {
        socket.data?.onDrain();
      },
      close(socket) {
        socket.data?.onClose();
      },
      error() {},
    },
  });
  let closing: Promise<void> | undefined;
  return {
    hostname: options.hostname,
    port: listener.port,
    close() {
      closing ??= Promise.resolve().then(() => {
        listener.stop(false);
        return nextTurn();
      });
      return closing;
    },
  };
}

function listenWs(Bun: BunLike, options: ListenOptions): Server {
  const tls = tlsConfig(options);
  const transport: Transport = tls ? "wss" : "ws";
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    reusePort: false,
    development: false,
    tls,
    fetch(request, server) {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("WebSocket only\n", { status: 426, headers: { upgrade: "websocket" } });
      }
      const protocol = chooseSubprotocol(request.headers.get("sec-websocket-protocol"));
      const ip = server.requestIP(request);
      const data: WsState = { hostname: ip?.address ?? "", port: ip?.port ?? 0 };
      const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
      if (server.upgrade(request, { headers, data })) return undefined;
      return new Response("WebSocket upgrade failed\n", { status: 400 });
    },
    websocket: {
      maxPayloadLength: WS_MAX_MESSAGE_BYTES,
      backpressureLimit: WS_MAX_MESSAGE_BYTES,
      closeOnBackpressureLimit: false,
      // MQTT has its own keep-alive; the broker decides when a quiet client is gone.
      idleTimeout: 0,
      sendPings: false,
      perMessageDeflate: false,
      open(ws) {
        const conn = wsConnection(ws, transport);
        ws.data.conn = conn;
        options.onConnection(conn);
      },
      message(ws, message) {
        const conn = ws.data.conn;
        if (!conn || conn.closed) return;
        if (typeof message === "string") {
          ws.close(1003, "binary frames only");
          conn.shut();
          return;
        }
        conn.push(message);
      },
      drain(ws) {
        if (ws.getBufferedAmount() < WS_SEND_BUFFER_BYTES) ws.data.conn?.drained();
      },
      close(ws) {
        ws.data.conn?.shut();
      },
    },
  });
  // `stop(false)` stops listening at once; its promise waits for every WebSocket to close, which
  // is their owner's business, not ours.
  return { hostname: options.hostname, port: server.port, close: stopper(server, false) };
}

/** Bun's `Server.stop` and the next turn, once. */
function stopper(server: BunHttpServer, closeActive: boolean): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= Promise.resolve().then(() => {
      server.stop(closeActive).catch(() => {});
      return nextTurn();
    });
    return closing;
  };
}

function serve(options: ServeOptions): Promise<Server> {
  const Bun = (globalThis as unknown as { Bun: BunLike }).Bun;
  const { handler } = options;
  try {
    const server = Bun.serve({
      hostname: options.hostname,
      port: options.port,
      reusePort: false,
      development: false,
      tls: tlsConfig(options),
      fetch(request, server) {
        const ip = server.requestIP(request);
        return handler(request, { hostname: ip?.address ?? "", port: ip?.port ?? 0 });
      },
    });
    // Unlike a WS listener's clients, admin requests belong to the server: closing ends them.
    return Promise.resolve({
      hostname: options.hostname,
      port: server.port,
      close: stopper(server, true),
    });
  } catch (err) {
    return Promise.reject(listenError(options.hostname, options.port, err));
  }
}

function listen(options: ListenOptions): Promise<Server> {
  const Bun = (globalThis as unknown as { Bun: BunLike }).Bun;
  try {
    const server = options.type === "ws" ? listenWs(Bun, options) : listenTcp(Bun, options);
    return Promise.resolve(server);
  } catch (err) {
    return Promise.reject(listenError(options.hostname, options.port, err));
  }
}

/** The adapter for Bun. */
export const bunAdapter: RuntimeAdapter = { name: "bun", listen, serve };
