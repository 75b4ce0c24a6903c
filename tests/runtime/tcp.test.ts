import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import type { Connection, RuntimeAdapter, Server } from "../../src/runtime/types.ts";
import {
  assertPortTaken,
  assertWritesFail,
  bytes,
  connectTcp,
  echo,
  listenForTest,
  listenReadingToEnd,
  pattern,
  readAll,
  readSlowly,
  sameBytes,
  settle,
  skipWithoutIpv6,
  text,
  writeInPieces,
} from "./helpers.ts";

const host = "127.0.0.1";
/** Connections opened at once: more than one slice of handing on takes (see deno.ts). */
const BURST = 300;

describe("runtime adapter: TCP", () => {
  let adapter: RuntimeAdapter;
  before(async () => {
    adapter = await getRuntimeAdapter();
  });

  test("the adapter matches the runtime", () => {
    const expected = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
    assert.equal(adapter.name, expected);
  });

  test("echo round trip, with the remote address", async () => {
    const { server, accepted } = await listenForTest(adapter, { type: "tcp" });
    try {
      assert.ok(server.port > 0);
      assert.equal(server.hostname, host);
      const client = await connectTcp(server.port);
      client.socket.write("hello, broker");
      assert.equal(text(await client.receive(13)), "hello, broker");
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0].remoteAddr.transport, "tcp");
      assert.match(accepted[0].remoteAddr.hostname, /127\.0\.0\.1$/);
      assert.equal(accepted[0].remoteAddr.port, client.socket.localPort);
      client.socket.end();
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test("a slow reader gets every byte, and an idle one stops the sender", async () => {
    const size = 32 * 1024 * 1024;
    const data = pattern(size);
    const server = await listenForTest(adapter, { type: "tcp", onConnection() {} });
    try {
      const client = await connectTcp(server.port);
      const conn = await server.connection();
      let flushed = 0;
      const piece = 64 * 1024;
      const sending = (async () => {
        for (let offset = 0; offset < size; offset += piece) {
          await new Promise<void>((resolve, reject) =>
            client.socket.write(
              data.subarray(offset, offset + piece),
              (err) => err ? reject(err) : resolve(),
            )
          );
          flushed += piece;
        }
        client.socket.end();
      })();
      // The server reads nothing yet: the adapter must stop reading the socket, so the client's
      // writes stall once the kernel buffers are full, well short of 32 MiB.
      await settle();
      assert.ok(flushed < size, `client flushed all ${size} bytes to an idle reader`);

      const got = await readSlowly(conn.readable);
      await sending;
      assert.ok(sameBytes(got, data), "bytes arrived altered");
      conn.close();
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test("writes wait while the peer does not read, and arrive intact", async () => {
    const size = 32 * 1024 * 1024;
    const data = pattern(size);
    let writing!: ReturnType<typeof writeInPieces>;
    const server = await listenForTest(adapter, {
      type: "tcp",
      onConnection(conn) {
        writing = writeInPieces(conn.writable, data);
        writing.done.then(() => conn.close());
      },
    });
    try {
      const client = await connectTcp(server.port);
      client.socket.pause();
      await server.connection();
      await settle();
      assert.ok(writing.written < size, "the adapter took 32 MiB for a peer that reads nothing");
      client.socket.resume();
      assert.ok(sameBytes(await client.receive(size), data), "bytes arrived altered");
      await writing.done;
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test("close() on the server side ends the client, and is idempotent", async () => {
    const server = await listenForTest(adapter, { type: "tcp", onConnection() {} });
    try {
      const client = await connectTcp(server.port);
      const conn = await server.connection();
      const writer = conn.writable.getWriter();
      await writer.write(bytes("bye"));
      conn.close();
      conn.close();
      assert.equal(text(await client.receive(3)), "bye");
      await client.closed;
      assert.equal((await readAll(conn.readable)).byteLength, 0);
      await assert.rejects(writer.write(bytes("too late")));
    } finally {
      await server.close();
    }
  });

  test("close(peerDone) after the peer's last bytes: what was written arrives, then a clean end", async () => {
    // Small enough for the kernel to take at once, and too big for that.
    for (const size of [4, 8 * 1024 * 1024]) {
      const answer = pattern(size);
      const server = await listenForTest(adapter, {
        type: "tcp",
        onConnection(conn) {
          const channel = conn.open({
            onData() {
              // The peer's last words (a DISCONNECT, say): answer and go, once the runtime has
              // taken the answer, as the broker's clients do.
              if (channel.write(answer)) conn.close(true);
            },
            onEnd() {},
            onDrain: () => conn.close(true),
            onClose() {},
          });
        },
      });
      try {
        const client = await connectTcp(server.port);
        let reset = false;
        client.socket.on("error", () => reset = true);
        const ended = new Promise<void>((resolve) => client.socket.once("end", resolve));
        // Its last bytes, its side left open: the server closes first, as after a DISCONNECT.
        client.socket.write("bye");
        assert.ok(sameBytes(await client.receive(size), answer), `${size} bytes intact`);
        await ended;
        await client.closed;
        assert.equal(reset, false, "ended by a FIN, not a reset");
      } finally {
        await server.close();
      }
    }
  });

  test("a client hanging up ends the readable; later writes reject quietly", async () => {
    const server = await listenReadingToEnd(adapter, "tcp");
    try {
      const client = await connectTcp(server.port);
      client.socket.end("last words");
      assert.equal(text(await server.ended), "last words");
      await client.closed;
      const conn = await server.connection();
      await assertWritesFail(conn.writable.getWriter());
      conn.close();
    } finally {
      await server.close();
    }
  });

  test("a peer reset ends the connection without an uncaught error", async () => {
    const server = await listenReadingToEnd(adapter, "tcp", true);
    try {
      const client = await connectTcp(server.port);
      client.socket.write("x");
      client.socket.resetAndDestroy();
      await server.ended;
    } finally {
      await server.close();
    }
  });

  test("a taken port fails with the address in the message", async () => {
    const first = await listenForTest(adapter, { type: "tcp" });
    try {
      await assertPortTaken(adapter, { hostname: host, port: first.port, type: "tcp" });
    } finally {
      await first.close();
    }
  });

  test("close() frees the port and leaves accepted connections open", async () => {
    const server = await listenForTest(adapter, { type: "tcp" });
    const client = await connectTcp(server.port);
    await server.close();
    await server.close();
    let again: Server | undefined;
    try {
      again = await adapter.listen({
        hostname: host,
        port: server.port,
        type: "tcp",
        onConnection: echo,
      });
      client.socket.write("still here");
      assert.equal(text(await client.receive(10)), "still here");
    } finally {
      client.socket.end();
      await client.closed;
      await again?.close();
    }
  });

  test("a burst of connections at once: every one is handed on and served", async () => {
    const server = await listenForTest(adapter, { type: "tcp" });
    try {
      const clients = await Promise.all(
        Array.from({ length: BURST }, () => connectTcp(server.port)),
      );
      const sent = clients.map((_, i) => `client ${i}`.padEnd(12));
      clients.forEach((client, i) => client.socket.write(sent[i]));
      const echoed = await Promise.all(clients.map((client) => client.receive(12)));
      assert.deepEqual(echoed.map(text), sent);
      assert.equal(server.accepted.length, BURST);
      for (const client of clients) client.socket.end();
      await Promise.all(clients.map((client) => client.closed));
    } finally {
      await server.close();
    }
  });

  test("small reads on many connections at once stay apart, round after round", async () => {
    // Quiet connections' reads may share memory (Deno's read slots): each must get its own bytes.
    const server = await listenForTest(adapter, { type: "tcp" });
    try {
      const clients = await Promise.all(Array.from({ length: 100 }, () => connectTcp(server.port)));
      const sent = clients.map(() => "");
      for (let round = 0; round < 5; round++) {
        clients.forEach((client, i) => {
          const message = `client ${i} round ${round}`.padEnd(24, ".");
          sent[i] += message;
          client.socket.write(message);
        });
        const echoed = await Promise.all(clients.map((c, i) => c.receive(sent[i].length)));
        assert.deepEqual(echoed.map(text), sent);
      }
      for (const client of clients) client.socket.end();
      await Promise.all(clients.map((client) => client.closed));
    } finally {
      await server.close();
    }
  });

  test("close() in a burst ends the connections accepted but not yet handed on", async () => {
    const handedOn: Connection[] = [];
    const server = await listenForTest(adapter, {
      type: "tcp",
      onConnection: (conn) => handedOn.push(conn),
    });
    const clients = await Promise.all(
      Array.from({ length: BURST }, () => connectTcp(server.port)),
    );
    await server.close();
    // Those handed on are the broker's to close; every other one the adapter (or the kernel) ends.
    for (const conn of handedOn) conn.close();
    await Promise.all(clients.map((client) => client.closed));
  });

  test("IPv6 loopback", async (t) => {
    if (await skipWithoutIpv6(t)) return;
    const server = await listenForTest(adapter, { hostname: "::1", type: "tcp" });
    try {
      const client = await connectTcp(server.port, "::1");
      client.socket.write("v6");
      assert.equal(text(await client.receive(2)), "v6");
      client.socket.end();
      await client.closed;
      await assertPortTaken(adapter, { hostname: "::1", port: server.port, type: "tcp" });
    } finally {
      await server.close();
    }
  });
});
