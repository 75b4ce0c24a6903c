/**
 * The byte streams every adapter hands to the core, built once around a small per-runtime
 * interface. The runtime files only say how bytes leave, how reading stops and starts and how the
 * native connection is let go; the stream bookkeeping (backpressure, close, waiting for drain)
 * lives here.
 *
 * @module
 */
import { closedError, readStrategy } from "./shared.ts";
import type { Connection, RemoteAddr } from "./types.ts";

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
   * whether `pause()` is still in effect.
   */
  close(readingPaused: boolean): void;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A `Connection` over a `ByteTransport`. The adapter feeds it with `push`, `endRead`, `drained`
 * and `shut` from the runtime's events.
 */
export class StreamConnection implements Connection {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly remoteAddr: RemoteAddr;
  #transport: ByteTransport;
  #closed = false;
  #readDone = false;
  #paused = false;
  #reader!: ReadableStreamDefaultController<Uint8Array>;
  #writer!: WritableStreamDefaultController;
  #waiter: Waiter | undefined;

  constructor(transport: ByteTransport, remoteAddr: RemoteAddr) {
    this.#transport = transport;
    this.remoteAddr = remoteAddr;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#reader = controller;
      },
      pull: () => {
        if (!this.#paused) return;
        this.#paused = false;
        this.#transport.resume();
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

  /** Whether the connection is closed, by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues bytes the peer sent (the core owns `chunk` from here on); pauses reading when full. */
  push(chunk: Uint8Array): void {
    if (this.#readDone) return;
    this.#reader.enqueue(chunk);
    if ((this.#reader.desiredSize ?? 0) <= 0 && !this.#paused) {
      this.#paused = true;
      this.#transport.pause();
    }
  }

  /** The peer sent its last byte: ends the readable, writes may go on. */
  endRead(): void {
    if (this.#readDone) return;
    this.#readDone = true;
    this.#reader.close();
  }

  /** The runtime can take more: the write waiting since `write` returned `false` resolves. */
  drained(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  /** The native connection is gone: ends both streams without touching it. Idempotent. */
  shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.endRead();
    this.#writer.error(closedError());
    this.#waiter?.reject(closedError());
    this.#waiter = undefined;
  }

  /** Ends both streams, then lets the native connection go. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.shut();
    this.#transport.close(this.#paused);
  }

  #write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#closed) throw closedError();
    const sent = this.#transport.write(chunk);
    // The common case: taken whole, no promise.
    if (sent === true) return;
    if (sent === false) {
      return new Promise((resolve, reject) => {
        this.#waiter = { resolve, reject };
      });
    }
    return sent;
  }
}
