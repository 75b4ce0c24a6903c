/**
 * The adapter layer's contract. The core (`protocol/`, `broker/`, `plugins/`) sees only these
 * types; each runtime file (`deno.ts`, `bun.ts`, `node.ts`) turns its native servers into them.
 *
 * @module
 */

/** Transport a connection arrived on. */
export type Transport = "tcp" | "tls" | "ws" | "wss";

/** Where a connection comes from. */
export interface RemoteAddr {
  hostname: string;
  port: number;
  transport: Transport;
}

/** What a connection's byte-level fast path tells its one consumer (see {@link Connection.open}). */
export interface ByteListener {
  /** Bytes the peer sent; the consumer owns `chunk` (the adapter never reuses its memory). */
  onData(chunk: Uint8Array): void;
  /** The peer sent its last byte; writes may go on. */
  onEnd(): void;
  /** The runtime took the bytes of the `write` that returned false: the next may go. */
  onDrain(): void;
  /** The connection is gone, closed by either side; nothing follows. */
  onClose(): void;
}

/** The consumer's side of a connection's byte-level fast path. */
export interface ByteChannel {
  /**
   * Hands `bytes` to the runtime, which takes them either way; false when they went over its
   * buffer: the next write waits for {@link ByteListener.onDrain}, so nothing buffers without
   * bound. Throws once the connection is closed.
   */
  write(bytes: Uint8Array): boolean;
  /** Stops `onData` (and reading the socket) until `resume`: the consumer is behind. */
  pause(): void;
  resume(): void;
}

/**
 * One accepted client connection as a pair of byte streams.
 *
 * `readable` yields chunks the core owns (the adapter never reuses a chunk's memory) and applies
 * backpressure: while the core does not read, the adapter stops reading the socket.
 * `writable` resolves each write once the runtime has taken the bytes without going over its own
 * buffer, so a writer that awaits (or watches `desiredSize`) never buffers without bound.
 */
export interface Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly remoteAddr: RemoteAddr;
  /**
   * Closes both directions at once; safe to call more than once. `peerDone`: the peer said it
   * sends nothing more (an MQTT DISCONNECT), so once its bytes are with the kernel the socket may
   * go at once, rather than being half-closed and drained so that late input gets no reset.
   */
  close(peerDone?: boolean): void;
  /**
   * The byte-level fast path the broker's clients use: the connection's bytes and events go to
   * `listener` with no stream, promise or queue per connection, which is most of what an idle
   * connection would cost. Called at most once, before any read, and instead of `readable` and
   * `writable` (kept for everything else), which must then not be used.
   */
  open(listener: ByteListener): ByteChannel;
}

/** TLS material, already read from disk (PEM text). */
export interface TlsOptions {
  cert: string;
  key: string;
  /** CA certificates; when given, client certificates are requested and verified. */
  ca?: string;
}

/** What to listen on. */
export interface ListenOptions {
  hostname: string;
  port: number;
  type: "tcp" | "ws";
  tls?: TlsOptions;
  /**
   * How long a TLS handshake may take before the socket is dropped (default 10 s): a client that
   * opens a socket and stalls in the handshake never reaches the core's own timeouts.
   */
  handshakeTimeoutMs?: number;
  /** Called for every accepted connection. */
  onConnection(conn: Connection): void;
  /**
   * Called when a TLS handshake fails or stalls, before any connection exists, so that the
   * refusal can be logged: the client itself sees only a closed socket.
   */
  onHandshakeError?(peer: { hostname: string; port: number }, reason: string): void;
}

/** A bound server. */
export interface Server {
  /** The address actually bound (port 0 resolved to the real port). */
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting; open connections are left to their owner. Resolves once the port is free. */
  close(): Promise<void>;
}

/**
 * Answers one HTTP request, in web-standard types so that the core needs no runtime's own;
 * `peer` is the client's address as the socket saw it (no proxy header is trusted).
 */
export type HttpHandler = (
  request: Request,
  peer: { hostname: string; port: number },
) => Response | Promise<Response>;

/** What to serve HTTP (or HTTPS, with `tls`) on. */
export interface ServeOptions {
  hostname: string;
  port: number;
  tls?: TlsOptions;
  handler: HttpHandler;
}

/** One runtime's implementation of the adapter layer. */
export interface RuntimeAdapter {
  readonly name: "deno" | "bun" | "node";
  /** Binds a server; rejects with an error whose message names the address when it cannot. */
  listen(options: ListenOptions): Promise<Server>;
  /**
   * Binds an HTTP server that hands every request to `options.handler`; rejects as `listen`
   * does. `close()` stops accepting and ends open requests and idle keep-alive connections.
   */
  serve(options: ServeOptions): Promise<Server>;
}
