/**
 * The Deno adapter.
 *
 * - TCP: `Deno.listen`.
 * - TLS: Deno's `node:tls`, through `node.ts`, not `Deno.listenTls`. `Deno.listenTls` (and
 *   `Deno.serve`) can neither request nor verify a client certificate (denoland/deno#26825, still
 *   open for Deno 2.9), and closing a `TlsConn` whose handshake is pending cancels the handshake
 *   but leaves the socket open (checked on Deno 2.9.6), so a client stalled in its handshake could
 *   never be dropped. Deno's `node:tls` server honours `requestCert`/`ca` since denoland/deno#33439,
 *   refuses certificates from other CAs, and times handshakes out, which the tests check.
 * - WS and WSS: the `ws` package on Deno's `node:http`/`node:https`, through `node.ts`, not
 *   `Deno.serve` + `Deno.upgradeWebSocket`. Checked on Deno 2.9.6: `HttpServer.shutdown()` and
 *   aborting its signal both close every upgraded WebSocket, so a listener cannot be closed while
 *   its clients stay connected, which the contract requires; Deno's WebSocket cannot pause reading,
 *   so an unread client could make the process buffer without bound; and `Deno.serve` cannot
 *   verify client certificates either. `Deno.upgradeWebSocket({ socket })` over `node:http` refuses
 *   TLS sockets and kept the HTTP server from closing.
 * - HTTP and HTTPS (the admin listener): Deno's `node:http`/`node:https`, through `node.ts`, for
 *   one code path with WS and the same TLS handling; the admin API's traffic is small.
 *
 * @module
 */
import { HandOn } from "./hand_on.ts";
import { listenWithNodeApis, serveWithNodeApis } from "./node.ts";
import { closedError, listenError } from "./shared.ts";
import { type ByteTransport, StreamConnection } from "./stream_connection.ts";
import type { ListenOptions, RuntimeAdapter, Server } from "./types.ts";

interface DenoNetAddr {
  hostname: string;
  port: number;
}

interface DenoConn {
  readonly remoteAddr: DenoNetAddr & { transport: "tcp" };
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay?(noDelay?: boolean): void;
}

interface DenoListener {
  readonly addr: DenoNetAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

interface DenoLike {
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
}

/**
 * Read buffer sizes. A pending read holds its buffer, so a quiet connection waits on the smallest
 * one (idle RSS per connection: 42 KiB with 16 KiB buffers, 25 KiB with 1 KiB; a PINGREQ or a
 * short CONNECT fits in this one). A read that fills its buffer means more is coming: the next
 * uses one twice as large, up to the largest, so that a busy connection gets there within a few
 * reads and a longer CONNECT leaves its connection waiting on a small one; only a long run of
 * small reads goes back to the smallest. The largest stays 16 KiB: a fresh 64 KiB buffer per
 * read cut fan-in throughput to a fifth. Reads much smaller than their buffer are copied out so
 * the buffer can go.
 */
const MIN_READ_SIZE = 64;
const MAX_READ_SIZE = 16 * 1024;
/** Consecutive small reads after which a connection counts as quiet again. */
const QUIET_READS = 16;

/** Buffers of {@link MIN_READ_SIZE} in one slab of {@link ReadSlots}. */
const SLOTS_PER_SLAB = 1024;

/**
 * The smallest read buffers, the ones quiet connections wait on, cut from shared slabs: an
 * `ArrayBuffer` of its own per connection costs more than its 64 bytes (the object, V8's
 * backing store record and a heap block: about 0.25 KiB of RSS per idle connection, measured
 * at 5,000). A slot goes back once its read settled and its bytes were copied out, so no two
 * pending reads share one. Slabs stay: 64 KiB per 1,024 connections at the peak.
 */
class ReadSlots {
  readonly #slabs: ArrayBuffer[] = [];
  readonly #free: number[] = [];
  #cut = 0;

  /** A slot nobody reads into. */
  take(): number {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    if (this.#cut % SLOTS_PER_SLAB === 0) {
      this.#slabs.push(new ArrayBuffer(SLOTS_PER_SLAB * MIN_READ_SIZE));
    }
    return this.#cut++;
  }

  /** The bytes of `slot`. */
  view(slot: number): Uint8Array {
    const slab = this.#slabs[Math.floor(slot / SLOTS_PER_SLAB)];
    return new Uint8Array(slab, (slot % SLOTS_PER_SLAB) * MIN_READ_SIZE, MIN_READ_SIZE);
  }

  /** `slot` is free again: its read settled and nothing refers to its bytes. */
  give(slot: number): void {
    this.#free.push(slot);
  }
}

const readSlots = new ReadSlots();

/**
 * A `Deno.Conn`'s side of its `StreamConnection`: a class rather than closures per connection,
 * which are much of what an idle one costs.
 */
class DenoTcpTransport implements ByteTransport {
  readonly conn: StreamConnection;
  readonly #conn: DenoConn;
  /**
   * Reading only while the consumer wants more is the backpressure: an unread connection is not
   * read from, and the peer's sends stall in the kernel.
   */
  #flowing = true;
  #reading = false;
  #size = MIN_READ_SIZE;
  #smallReads = 0;

  constructor(conn: DenoConn) {
    this.#conn = conn;
    // Deno's own address object has our shape, { transport: "tcp", hostname, port }: a copy
    // would be one more object per connection.
    this.conn = new StreamConnection(this, conn.remoteAddr);
    this.#read();
  }

  /**
   * Starts the next read unless one is pending. A promise callback rather than an async loop:
   * a loop suspended in its `await` keeps its whole frame per idle connection.
   */
  #read(): void {
    if (this.#reading || !this.#flowing || this.conn.closed) return;
    this.#reading = true;
    const size = this.#size;
    const slot = size === MIN_READ_SIZE ? readSlots.take() : -1;
    const buffer = slot < 0 ? new Uint8Array(size) : readSlots.view(slot);
    // One callback for both outcomes: a failed read ends the connection as the peer's end does.
    const done = (n: number | null | Error) =>
      this.#onRead(buffer, slot, typeof n === "number" ? n : null);
    this.#conn.read(buffer).then(done, done);
  }

  /** `slot`: the {@link ReadSlots} slot `buffer` is, or -1 for a buffer of its own. */
  #onRead(buffer: Uint8Array, slot: number, n: number | null): void {
    this.#reading = false;
    const connection = this.conn;
    const size = buffer.byteLength;
    if (n === null) {
      if (slot >= 0) readSlots.give(slot);
      return connection.close();
    }
    // A slot's bytes are copied out before it goes to another read.
    const chunk = slot >= 0 || n < size / 4 ? buffer.slice(0, n) : buffer.subarray(0, n);
    if (slot >= 0) readSlots.give(slot);
    if (n === size) {
      this.#size = Math.min(size * 2, MAX_READ_SIZE);
      this.#smallReads = 0;
    } else if (size > MIN_READ_SIZE && n < MIN_READ_SIZE && ++this.#smallReads >= QUIET_READS) {
      this.#size = MIN_READ_SIZE;
      this.#smallReads = 0;
    }
    connection.push(chunk);
    this.#read();
  }

  async write(chunk: Uint8Array): Promise<void> {
    try {
      let written = await this.#conn.write(chunk);
      while (written < chunk.byteLength) written += await this.#conn.write(chunk.subarray(written));
    } catch {
      this.conn.close();
      throw closedError();
    }
  }

  pause(): void {
    this.#flowing = false;
  }

  resume(): void {
    this.#flowing = true;
    this.#read();
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a reset.
    }
  }
}

function serveListener(listener: DenoListener, options: ListenOptions) {
  let stopped = false;
  // Handed on in slices (see hand_on.ts): on Deno a timer apart, which lets the sockets be polled.
  const handOn = new HandOn<DenoConn>((conn) => {
    try {
      conn.setNoDelay?.(true);
    } catch {
      // Not every connection type supports it; the data still flows.
    }
    options.onConnection(new DenoTcpTransport(conn).conn);
  });
  const accept = async () => {
    while (!stopped) {
      await handOn.room();
      if (stopped) return;
      let conn: DenoConn;
      try {
        conn = await listener.accept();
      } catch {
        if (stopped) return;
        // Out of descriptors or similar: give the process a moment instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (stopped) return conn.close();
      handOn.offer(conn);
    }
  };
  const accepting = accept();
  let closing: Promise<void> | undefined;
  const server: Server = {
    hostname: options.hostname,
    port: listener.addr.port,
    close() {
      // The socket is released only once the pending accept gave the listener back, a turn later.
      closing ??= (async () => {
        stopped = true;
        listener.close();
        for (const conn of handOn.close()) conn.close();
        await accepting;
        await new Promise((resolve) => setTimeout(resolve, 0));
      })();
      return closing;
    },
  };
  return server;
}

/**
 * Deno's TLS refuses client certificates that are not X.509 v3 (what `openssl x509 -req` makes
 * without extensions is v1), where Node and Bun accept them, and reports it only as a hang-up: the
 * log line says what the likely cause is.
 */
function explainHandshakeErrors(options: ListenOptions): ListenOptions {
  const report = options.onHandshakeError;
  if (!report || options.tls?.ca === undefined) return options;
  return {
    ...options,
    onHandshakeError(peer, reason) {
      report(
        peer,
        reason === "socket hang up"
          ? `${reason} (on Deno this is also how a client certificate that is not X.509 v3 is ` +
            "refused: issue it with extensions, e.g. openssl x509 -req -extfile with " +
            "basicConstraints=CA:FALSE)"
          : reason,
      );
    },
  };
}

function listen(options: ListenOptions): Promise<Server> {
  if (options.type === "ws" || options.tls) {
    return listenWithNodeApis(explainHandshakeErrors(options));
  }
  const Deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const { hostname, port } = options;
  try {
    const listener = Deno.listen({ hostname, port, transport: "tcp" });
    return Promise.resolve(serveListener(listener, options));
  } catch (err) {
    return Promise.reject(listenError(hostname, port, err));
  }
}

/** The adapter for Deno. */
export const denoAdapter: RuntimeAdapter = { name: "deno", listen, serve: serveWithNodeApis };
