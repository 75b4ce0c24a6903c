/**
 * The connection every adapter hands to the core, built once around a small per-runtime
 * interface. The runtime files only say how bytes leave, how reading stops and starts and how the
 * native connection is let go; the bookkeeping (backpressure, close, waiting for drain) lives
 * here, for both the byte-level fast path and the byte streams.
 *
 * @module
 */
import { closedError, readStrategy } from "./shared.ts";
import type { ByteChannel, ByteListener, Connection, RemoteAddr } from "./types.ts";

/** What a runtime's native connection offers to `StreamConnection`. */
export interface ByteTransport {
  /**
   * Hands `chunk` to the runtime: `true` when it took all of it, `false` when the write must wait
   * until the adapter calls `drained()`, or a promise where the runtime's writes are asynchronous.
   * Throws to fail the write.
   */
  write(chunk: Uint8Array): boolean | Promise<void>;
  /** Stops reading: the consumer is `READ_AHEAD_BYTES` behind. */
  pause(): void;
  /** Reads again after `pause()`. */
  resume(): void;
  /**
   * Lets the native connection go once `close()` has ended both streams; `readingPaused` says
   * whether `pause()` is still in effect, `peerDone` is {@link Connection.close}'s.
   */
  close(readingPaused: boolean, peerDone: boolean): void;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** The byte streams of a connection used through them rather than {@link StreamConnection.open}. */
class Streams {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  reader!: ReadableStreamDefaultController<Uint8Array>;
  writer!: WritableStreamDefaultController;
  waiter: Waiter | undefined;

  constructor(conn: StreamConnection) {
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.reader = controller;
      },
      pull: () => conn.resume(),
      cancel: () => {
        conn.readDone = true;
        conn.close();
      },
    }, readStrategy);
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.writer = controller;
      },
      write: (chunk) => this.#write(conn, chunk),
      close: () => conn.close(),
      abort: () => conn.close(),
    });
  }

  #write(conn: StreamConnection, chunk: Uint8Array): Promise<void> | undefined {
    if (conn.closed) throw closedError();
    const sent = conn.transport.write(chunk);
    // The common case: taken whole, no promise.
    if (sent === true) return;
    if (sent === false) {
      return new Promise((resolve, reject) => {
        this.waiter = { resolve, reject };
      });
    }
    return sent;
  }
}

/**
 * A `Connection` over a `ByteTransport`. The adapter feeds it with `push`, `endRead`, `drained`
 * and `shut` from the runtime's events. Its streams exist only once asked for: a connection the
 * core takes through {@link StreamConnection.open} never has any, which is most of the memory an
 * idle connection would hold.
 */
export class StreamConnection implements Connection, ByteChannel {
  readonly remoteAddr: RemoteAddr;
  /** @internal For {@link Streams}. */
  readonly transport: ByteTransport;
  /** @internal For {@link Streams}: the readable side is done. */
  readDone = false;
  #closed = false;
  #paused = false;
  #listener: ByteListener | undefined;
  #streams: Streams | undefined;
  /** A write of the fast path waits for the runtime (`write` returned false). */
  #blocked = false;

  constructor(transport: ByteTransport, remoteAddr: RemoteAddr) {
    this.transport = transport;
    this.remoteAddr = remoteAddr;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#useStreams().readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#useStreams().writable;
  }

  #useStreams(): Streams {
    if (this.#listener) throw new Error("connection opened as bytes: it has no streams");
    return this.#streams ??= new Streams(this);
  }

  /** Whether the connection is closed, by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  open(listener: ByteListener): ByteChannel {
    if (this.#listener || this.#streams) throw new Error("connection already opened");
    this.#listener = listener;
    return this;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) throw closedError();
    const sent = this.transport.write(bytes);
    if (sent === true) return true;
    this.#blocked = true;
    if (sent !== false) sent.then(() => this.drained(), () => this.close());
    return false;
  }

  pause(): void {
    if (this.#paused || this.#closed) return;
    this.#paused = true;
    this.transport.pause();
  }

  resume(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    this.transport.resume();
  }

  /** Hands over bytes the peer sent (the core owns `chunk` from here on); pauses reading when full. */
  push(chunk: Uint8Array): void {
    if (this.readDone) return;
    const listener = this.#listener;
    if (listener) return listener.onData(chunk);
    const { reader } = this.#useStreams();
    reader.enqueue(chunk);
    if ((reader.desiredSize ?? 0) <= 0) this.pause();
  }

  /** The peer sent its last byte: ends the reading side, writes may go on. */
  endRead(): void {
    if (this.readDone) return;
    this.readDone = true;
    if (this.#listener) this.#listener.onEnd();
    else this.#useStreams().reader.close();
  }

  /** The runtime can take more: the write waiting since `write` returned `false` may go on. */
  drained(): void {
    if (this.#listener) {
      if (!this.#blocked || this.#closed) return;
      this.#blocked = false;
      this.#listener.onDrain();
      return;
    }
    const streams = this.#streams;
    const waiter = streams?.waiter;
    if (streams) streams.waiter = undefined;
    waiter?.resolve();
  }

  /** The native connection is gone: ends both sides without touching it. Idempotent. */
  shut(): void {
    if (this.#closed) return;
    if (this.#listener) {
      this.readDone = true;
      this.#closed = true;
      this.#listener.onClose();
      return;
    }
    this.endRead();
    this.#closed = true;
    const streams = this.#useStreams();
    streams.writer.error(closedError());
    streams.waiter?.reject(closedError());
    streams.waiter = undefined;
  }

  /** Ends both sides, then lets the native connection go. Idempotent. */
  close(peerDone = false): void {
    if (this.#closed) return;
    const paused = this.#paused;
    this.shut();
    this.transport.close(paused, peerDone);
  }
}
