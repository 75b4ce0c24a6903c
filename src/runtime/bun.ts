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
  readStrategy,
  WS_MAX_MESSAGE_BYTES,
  WS_SEND_BUFFER_BYTES,
} from "./shared.ts";
import type { Connection, ListenOptions, RuntimeAdapter, Server, Transport } from "./types.ts";

interface BunSocket {
  data: BunTcpConnection | undefined;
  readonly remoteAddress: string;
  readonly remotePort: number;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  timeout(seconds: number): void;
  setNoDelay(noDelay?: boolean): boolean;
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
  conn?: BunWsConnection;
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
    fetch(request: Request, server: BunHttpServer): Response | undefined;
    websocket: {
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

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

class BunTcpConnection implements Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly remoteAddr;
  #socket: BunSocket;
  #closed = false;
  #readDone = false;
  #paused = false;
  #reader!: ReadableStreamDefaultController<Uint8Array>;
  #writer!: WritableStreamDefaultController;
  /** Bytes of the last write the kernel did not take yet. */
  #rest: Uint8Array | undefined;
  #waiter: Waiter | undefined;

  constructor(socket: BunSocket, transport: Transport) {
    this.#socket = socket;
    this.remoteAddr = { hostname: socket.remoteAddress, port: socket.remotePort, transport };
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#reader = controller;
      },
      pull: () => {
        if (!this.#paused) return;
        this.#paused = false;
        this.#socket.resume();
      },
      cancel: () => {
        this.#readDone = true;
        this.close();
      },
    }, readStrategy);
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writer = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.close(),
      abort: () => this.close(),
    });
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#closed) throw closedError();
    const written = this.#socket.write(chunk);
    if (written === chunk.byteLength) return;
    if (written < 0) {
      this.close();
      throw closedError();
    }
    this.#rest = chunk.subarray(written);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  onData(chunk: Uint8Array): void {
    if (this.#readDone) return;
    this.#reader.enqueue(chunk);
    if ((this.#reader.desiredSize ?? 0) <= 0 && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  onDrain(): void {
    const rest = this.#rest;
    if (!rest) return;
    const written = this.#socket.write(rest);
    if (written < 0) return this.close();
    if (written < rest.byteLength) {
      this.#rest = rest.subarray(written);
      return;
    }
    this.#rest = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  onClose(): void {
    this.#shut();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#reader.close();
    }
    this.#writer.error(closedError());
    this.#rest = undefined;
    this.#waiter?.reject(closedError());
    this.#waiter = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#shut();
    // Bun's writes are unbuffered, so `end` only has a FIN to send. Reading resumes so the kernel
    // does not answer the peer with a reset; a peer that never closes its side is dropped by the
    // socket's own timeout, which holds no timer in JavaScript.
    if (this.#paused) this.#socket.resume();
    this.#socket.end();
    this.#socket.timeout(Math.ceil(CLOSE_LINGER_MS / 1000));
  }
}

class BunWsConnection implements Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly remoteAddr;
  #ws: BunServerWebSocket;
  #closed = false;
  #readDone = false;
  #paused = false;
  #reader!: ReadableStreamDefaultController<Uint8Array>;
  #writer!: WritableStreamDefaultController;
  #waiter: Waiter | undefined;

  constructor(ws: BunServerWebSocket, transport: Transport) {
    this.#ws = ws;
    this.remoteAddr = { hostname: ws.data.hostname, port: ws.data.port, transport };
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#reader = controller;
      },
      pull: () => {
        if (!this.#paused) return;
        this.#paused = false;
        this.#ws.resume();
      },
      cancel: () => {
        this.#readDone = true;
        this.close();
      },
    }, readStrategy);
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#writer = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.close(),
      abort: () => this.close(),
    });
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#closed) throw closedError();
    const status = this.#ws.sendBinary(chunk);
    if (status > 0) return;
    if (status === 0) {
      // Dropped: only past `backpressureLimit`, which waiting on `drain` keeps us under.
      this.close();
      throw closedError();
    }
    if (this.#ws.getBufferedAmount() < WS_SEND_BUFFER_BYTES) return;
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  onMessage(message: string | Uint8Array): void {
    if (this.#readDone) return;
    if (typeof message === "string") {
      this.#ws.close(1003, "binary frames only");
      this.#shut();
      return;
    }
    this.#reader.enqueue(message);
    if ((this.#reader.desiredSize ?? 0) <= 0 && !this.#paused) {
      this.#paused = true;
      this.#ws.pause();
    }
  }

  onDrain(): void {
    if (this.#ws.getBufferedAmount() >= WS_SEND_BUFFER_BYTES) return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  onClose(): void {
    this.#shut();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#reader.close();
    }
    this.#writer.error(closedError());
    this.#waiter?.reject(closedError());
    this.#waiter = undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#shut();
    this.#ws.close(1000);
  }
}

function tlsConfig(options: ListenOptions): BunTlsConfig | undefined {
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
  const accept = (socket: BunSocket) => {
    socket.setNoDelay(true);
    const conn = new BunTcpConnection(socket, transport);
    socket.data = conn;
    options.onConnection(conn);
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
        if (!tls) accept(socket);
      },
      handshake(socket, success, authorizationError) {
        if (!success || (verifyClients && authorizationError)) return socket.terminate();
        accept(socket);
      },
      data(socket, data) {
        socket.data?.onData(data);
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
        const conn = new BunWsConnection(ws, transport);
        ws.data.conn = conn;
        options.onConnection(conn);
      },
      message(ws, message) {
        ws.data.conn?.onMessage(message);
      },
      drain(ws) {
        ws.data.conn?.onDrain();
      },
      close(ws) {
        ws.data.conn?.onClose();
      },
    },
  });
  let closing: Promise<void> | undefined;
  return {
    hostname: options.hostname,
    port: server.port,
    close() {
      closing ??= Promise.resolve().then(() => {
        // `stop` stops listening at once; its promise waits for every WebSocket to close, which is
        // their owner's business, not ours.
        server.stop(false).catch(() => {});
        return nextTurn();
      });
      return closing;
    },
  };
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
export const bunAdapter: RuntimeAdapter = { name: "bun", listen };
