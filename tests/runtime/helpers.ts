/**
 * Test helpers for the adapter suites: test servers that echo or hand over what they accept, test
 * certificates, and small clients (TCP, TLS, WebSocket) that collect bytes. The clients use
 * `node:net`, `node:tls` and the `ws` package, which all three runtimes provide.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import tls from "node:tls";
import WebSocket from "ws";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import type {
  Connection,
  ListenOptions,
  RuntimeAdapter,
  Server,
  TlsOptions,
} from "../../src/runtime/types.ts";

/** Waits a moment for bytes to settle in socket buffers; never asserted on as a duration. */
export const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

/** A server on port 0 for one test, and the connections it accepted. */
export interface TestServer {
  server: Server;
  port: number;
  /** Every connection accepted so far, in order. */
  accepted: Connection[];
  /** Every failed TLS handshake so far, as the adapter reported it. */
  handshakeErrors: { hostname: string; reason: string }[];
  /** Resolves with the `index`th accepted connection (the first by default) once it arrived. */
  connection(index?: number): Promise<Connection>;
  close(): Promise<void>;
}

/** What `listenForTest` binds; `onConnection` runs on each accepted connection, `echo` if not given. */
export interface TestListenOptions {
  type: ListenOptions["type"];
  hostname?: string;
  tls?: TlsOptions;
  onConnection?(conn: Connection): void;
}

/** Binds a server on port 0 (on 127.0.0.1 unless `hostname` says otherwise). */
export async function listenForTest(
  adapter: RuntimeAdapter,
  options: TestListenOptions,
): Promise<TestServer> {
  const accepted: Connection[] = [];
  const handshakeErrors: TestServer["handshakeErrors"] = [];
  const arrivals: { promise: Promise<Connection>; resolve(conn: Connection): void }[] = [];
  const arrival = (index: number) => (arrivals[index] ??= deferred<Connection>());
  const handle = options.onConnection ?? echo;
  const server = await adapter.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: 0,
    type: options.type,
    tls: options.tls,
    onConnection(conn) {
      accepted.push(conn);
      handle(conn);
      arrival(accepted.length - 1).resolve(conn);
    },
    onHandshakeError: ({ hostname }, reason) => handshakeErrors.push({ hostname, reason }),
  });
  return {
    server,
    port: server.port,
    accepted,
    handshakeErrors,
    connection: (index = 0) => arrival(index).promise,
    close: () => server.close(),
  };
}

/**
 * A server that reads each connection to its end (and then closes it, with `closeAtEnd`);
 * `ended` resolves with the bytes of the first connection to end.
 */
export async function listenReadingToEnd(
  adapter: RuntimeAdapter,
  type: ListenOptions["type"],
  closeAtEnd = false,
): Promise<TestServer & { ended: Promise<Uint8Array> }> {
  const ended = deferred<Uint8Array>();
  const server = await listenForTest(adapter, {
    type,
    onConnection(c) {
      const read = readAll(c.readable).then(ended.resolve, ended.reject);
      if (closeAtEnd) read.finally(() => c.close());
    },
  });
  return { ...server, ended: ended.promise };
}

/**
 * Asserts that writing to a connection whose peer has gone fails before long: the first write
 * after a hang-up may still be taken by the kernel, a later one fails.
 */
export async function assertWritesFail(
  writer: WritableStreamDefaultWriter<Uint8Array>,
): Promise<void> {
  await assert.rejects(async () => {
    for (let i = 0; i < 100; i++) {
      await writer.write(bytes("anyone?"));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
}

/**
 * Asserts that binding `port` again fails with the address in the message: `host:port`, or
 * `[host]:port` for an IPv6 literal.
 */
export async function assertPortTaken(
  adapter: RuntimeAdapter,
  options: { hostname: string; port: number; type: ListenOptions["type"]; tls?: TlsOptions },
): Promise<void> {
  const { hostname, port } = options;
  const address = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  await assert.rejects(
    adapter.listen({ ...options, onConnection: echo }),
    { message: `${address}: address already in use` },
  );
}

/** Skips `t` and returns true when this machine cannot bind IPv6 loopback. */
export async function skipWithoutIpv6(t: TestContext): Promise<boolean> {
  if (await hasIpv6Loopback()) return false;
  t.skip("this machine cannot bind ::1 (IPv6 disabled or no loopback address)");
  return true;
}

/** The test certificates as PEM text, in a temporary directory that `remove` deletes. */
export interface TestCertificates {
  pem: Record<keyof CertificatePaths, string>;
  remove(): Promise<void>;
}

/** Generates a CA, a server certificate for `localhost` and client certificates. */
export async function testCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "broker-certs-"));
  const paths = await generateCertificates(dir);
  const entries = await Promise.all(
    Object.entries(paths).map(async ([name, path]) => [name, await readFile(path, "utf8")]),
  );
  return {
    pem: Object.fromEntries(entries),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Writes `data` to `writable` in 16 KiB pieces, each awaited; `written` counts the bytes taken so
 * far, so a test can see the writes stall while the peer reads nothing.
 */
export function writeInPieces(
  writable: WritableStream<Uint8Array>,
  data: Uint8Array,
): { readonly written: number; done: Promise<void> } {
  const piece = 16 * 1024;
  const progress = { written: 0, done: Promise.resolve() };
  progress.done = (async () => {
    const writer = writable.getWriter();
    for (let offset = 0; offset < data.byteLength; offset += piece) {
      await writer.write(data.subarray(offset, offset + piece));
      progress.written += piece;
    }
    writer.releaseLock();
  })();
  return progress;
}

/**
 * Reads `readable` to its end, or until `size` bytes came, yielding a macrotask every 8 chunks:
 * a reader slower than the network.
 */
export async function readSlowly(
  readable: ReadableStream<Uint8Array>,
  size = Infinity,
): Promise<Uint8Array> {
  const reader = readable.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < size) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.byteLength;
    if (chunks.length % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  reader.releaseLock();
  return concat(chunks);
}

/** Bytes to text. */
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Echoes every chunk back until the peer goes away, then closes. */
export async function echo(conn: Connection): Promise<void> {
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await writer.write(value);
    }
  } catch {
    // The peer left mid-write; closing below is all there is to do.
  } finally {
    conn.close();
  }
}

/** Reads `conn` to its end and returns every byte. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return concat(chunks);
}

/** Joins byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** `size` bytes of a pattern that makes lost, repeated or reordered bytes visible. */
export function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 11)) & 0xff;
  return bytes;
}

/** Whether two byte arrays are equal; cheaper than deepStrictEqual on megabytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Text to bytes. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A connected client socket (plain or TLS) that gathers what it receives. */
export interface SocketClient {
  socket: net.Socket;
  /** Resolves with the first `n` bytes received. */
  receive(n: number): Promise<Uint8Array>;
  /** Resolves once the server ended or closed the connection. */
  closed: Promise<void>;
}

function gather(socket: net.Socket): SocketClient {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let want: { n: number; resolve(b: Uint8Array): void; reject(e: Error): void } | undefined;
  let ended = false;
  const settle = () => {
    if (!want) return;
    if (size >= want.n) {
      const all = concat(chunks);
      const w = want;
      want = undefined;
      w.resolve(all.subarray(0, w.n));
    } else if (ended) {
      const w = want;
      want = undefined;
      w.reject(new Error(`connection ended after ${size} of ${w.n} bytes`));
    }
  };
  socket.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.byteLength;
    settle();
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => {
    socket.on("close", () => {
      ended = true;
      settle();
      resolve();
    });
  });
  return {
    socket,
    closed,
    receive(n) {
      return new Promise((resolve, reject) => {
        want = { n, resolve, reject };
        settle();
      });
    },
  };
}

/** Connects over TCP. */
export function connectTcp(port: number, host = "127.0.0.1"): Promise<SocketClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(gather(socket));
    });
  });
}

/** PEM files for a TLS client. */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** Connects over TLS, checking the server certificate for `localhost` against `ca`. */
export function connectTls(
  port: number,
  creds: ClientTls,
  host = "127.0.0.1",
): Promise<SocketClient> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: "localhost", ...creds });
    socket.once("error", reject);
    socket.once("secureConnect", () => {
      socket.off("error", reject);
      resolve(gather(socket));
    });
  });
}

/**
 * Tries a TLS echo with the given client certificate: "echoed" when the server answered,
 * "refused" when the handshake failed or the server hung up without a word.
 */
export function tlsEcho(port: number, creds: ClientTls): Promise<"echoed" | "refused"> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...creds });
    socket.on("secureConnect", () => socket.write("ping"));
    socket.on("data", () => {
      resolve("echoed");
      socket.destroy();
    });
    socket.on("error", () => resolve("refused"));
    socket.on("close", () => resolve("refused"));
  });
}

/** A connected WebSocket client that gathers the binary messages it receives. */
export interface WsClient {
  ws: WebSocket;
  receive(n: number): Promise<Uint8Array>;
  closed: Promise<number>;
}

/** Opens a WebSocket; `tls` carries the CA (and client certificate) for wss. */
export function connectWs(
  url: string,
  protocols: string[],
  creds?: ClientTls,
): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { ...creds });
    ws.binaryType = "nodebuffer";
    const chunks: Uint8Array[] = [];
    let size = 0;
    let ended = false;
    let want: { n: number; resolve(b: Uint8Array): void; reject(e: Error): void } | undefined;
    const settle = () => {
      if (!want) return;
      if (size >= want.n) {
        const w = want;
        want = undefined;
        w.resolve(concat(chunks).subarray(0, w.n));
      } else if (ended) {
        const w = want;
        want = undefined;
        w.reject(new Error(`websocket closed after ${size} of ${w.n} bytes`));
      }
    };
    ws.on("message", (data: Buffer) => {
      chunks.push(new Uint8Array(data));
      size += data.byteLength;
      settle();
    });
    const closed = new Promise<number>((resolveClosed) => {
      ws.on("close", (code: number) => {
        ended = true;
        settle();
        resolveClosed(code);
      });
    });
    ws.once("error", reject);
    ws.once("open", () => {
      ws.off("error", reject);
      ws.on("error", () => {});
      resolve({
        ws,
        closed,
        receive(n) {
          return new Promise((res, rej) => {
            want = { n, resolve: res, reject: rej };
            settle();
          });
        },
      });
    });
  });
}

/** Whether this machine can bind IPv6 loopback. */
export function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

/** A promise with its resolvers (Node 20 lacks `Promise.withResolvers`). */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
} {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
