import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import type { RuntimeAdapter, TlsOptions } from "../../src/runtime/types.ts";
import {
  assertPortTaken,
  assertWritesFail,
  bytes,
  concat,
  connectWs,
  deferred,
  echo,
  listenForTest,
  listenReadingToEnd,
  pattern,
  readAll,
  readSlowly,
  sameBytes,
  settle,
  skipWithoutIpv6,
  type TestCertificates,
  testCertificates,
  text,
  writeInPieces,
} from "./helpers.ts";

const host = "127.0.0.1";

describe("runtime adapter: WebSocket", () => {
  let adapter: RuntimeAdapter;
  let certs: TestCertificates;
  let ca: string;
  let serverTls: TlsOptions;
  let client: { cert: string; key: string };
  let otherClient: { cert: string; key: string };

  before(async () => {
    adapter = await getRuntimeAdapter();
    certs = await testCertificates();
    const { pem } = certs;
    ca = pem.ca;
    serverTls = { cert: pem.serverCert, key: pem.serverKey };
    client = { cert: pem.clientCert, key: pem.clientKey };
    otherClient = { cert: pem.otherClientCert, key: pem.otherClientKey };
  });

  after(async () => {
    await certs.remove();
  });

  test("round trip with subprotocol mqtt, on any path", async () => {
    const { server, accepted } = await listenForTest(adapter, { type: "ws" });
    try {
      for (
        const [path, offered, answered] of [
          ["/mqtt", ["mqtt"], "mqtt"],
          ["/", ["mqttv3.1"], "mqttv3.1"],
          ["/any/path", [], ""],
        ] as const
      ) {
        const ws = await connectWs(`ws://${host}:${server.port}${path}`, [...offered]);
        assert.equal(ws.ws.protocol, answered);
        ws.ws.send(bytes("hello"));
        assert.equal(text(await ws.receive(5)), "hello");
        ws.ws.close();
        await ws.closed;
      }
      assert.equal(accepted[0].remoteAddr.transport, "ws");
      assert.match(accepted[0].remoteAddr.hostname, /127\.0\.0\.1$/);
      assert.ok(accepted[0].remoteAddr.port > 0);
    } finally {
      await server.close();
    }
  });

  test("frames are only bytes: one message split over frames, several in one", async () => {
    const received = deferred<Uint8Array>();
    const server = await listenForTest(adapter, {
      type: "ws",
      async onConnection(conn) {
        const reader = conn.readable.getReader();
        const chunks: Uint8Array[] = [];
        let size = 0;
        while (size < 12) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          size += value.byteLength;
        }
        const all = concat(chunks);
        received.resolve(all);
        const writer = conn.writable.getWriter();
        // Sent back as one frame holding two "packets", then one "packet" over two frames.
        await writer.write(all.subarray(0, 8));
        await writer.write(all.subarray(8, 10));
        await writer.write(all.subarray(10));
      },
    });
    try {
      const ws = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
      // Two 4-byte packets split as 2+6, then one in two frames as 2+2.
      const packets = bytes("AAAABBBBCCCC");
      ws.ws.send(packets.subarray(0, 2));
      ws.ws.send(packets.subarray(2, 8));
      ws.ws.send(packets.subarray(8, 10));
      ws.ws.send(packets.subarray(10));
      assert.deepEqual(await received.promise, packets);
      assert.deepEqual(await ws.receive(12), packets);
      ws.ws.close();
      await ws.closed;
    } finally {
      await server.close();
    }
  });

  test("a text frame closes the connection", async () => {
    const server = await listenReadingToEnd(adapter, "ws");
    try {
      const ws = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
      ws.ws.send("not mqtt");
      await ws.closed;
      assert.equal((await server.ended).byteLength, 0);
    } finally {
      await server.close();
    }
  });

  test("close() on either side ends the other; writes after it reject", async () => {
    const server = await listenForTest(adapter, { type: "ws", onConnection() {} });
    try {
      const ws = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
      const conn = await server.connection();
      const writer = conn.writable.getWriter();
      await writer.write(bytes("bye"));
      conn.close();
      conn.close();
      assert.equal(text(await ws.receive(3)), "bye");
      await ws.closed;
      await assert.rejects(writer.write(bytes("late")));

      const ended = deferred<Uint8Array>();
      const ws2 = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
      const conn2 = await server.connection(1);
      readAll(conn2.readable).then(ended.resolve, ended.reject);
      ws2.ws.send(bytes("last"));
      ws2.ws.close();
      assert.equal(text(await ended.promise), "last");
      await assertWritesFail(conn2.writable.getWriter());
      conn2.close();
    } finally {
      await server.close();
    }
  });

  test("backpressure both ways, bytes intact", async () => {
    const size = 16 * 1024 * 1024;
    const data = pattern(size);
    const server = await listenForTest(adapter, { type: "ws", onConnection() {} });
    try {
      const ws = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
      const conn = await server.connection();
      // Outbound: the client reads nothing, so the server's writes must stall.
      ws.ws.pause();
      const writing = writeInPieces(conn.writable, data);
      await settle();
      assert.ok(writing.written < size, "the adapter took 16 MiB for a peer that reads nothing");
      ws.ws.resume();
      assert.ok(sameBytes(await ws.receive(size), data), "bytes sent arrived altered");
      await writing.done;

      // Inbound: read slowly, a macrotask every few chunks.
      for (let offset = 0; offset < size; offset += 64 * 1024) {
        ws.ws.send(data.subarray(offset, offset + 64 * 1024));
      }
      const got = await readSlowly(conn.readable, size);
      assert.ok(sameBytes(got, data), "bytes received arrived altered");
      conn.close();
      await ws.closed;
    } finally {
      await server.close();
    }
  });

  test("WSS round trip, and client certificates checked against the CA", async () => {
    const plain = await listenForTest(adapter, { type: "ws", tls: serverTls });
    const verifying = await listenForTest(adapter, { type: "ws", tls: { ...serverTls, ca } });
    try {
      const ws = await connectWs(`wss://localhost:${plain.port}/mqtt`, ["mqtt"], { ca });
      assert.equal(ws.ws.protocol, "mqtt");
      ws.ws.send(bytes("secret"));
      assert.equal(text(await ws.receive(6)), "secret");
      ws.ws.close();
      await ws.closed;
      assert.equal(plain.accepted[0].remoteAddr.transport, "wss");

      const trusted = await connectWs(`wss://localhost:${verifying.port}/mqtt`, ["mqtt"], {
        ca,
        ...client,
      });
      trusted.ws.send(bytes("signed"));
      assert.equal(text(await trusted.receive(6)), "signed");
      trusted.ws.close();
      await trusted.closed;

      const refused = async (creds: { cert?: string; key?: string }) => {
        try {
          const ws = await connectWs(`wss://localhost:${verifying.port}/mqtt`, ["mqtt"], {
            ca,
            ...creds,
          });
          ws.ws.send(bytes("let me in"));
          await ws.receive(9);
          ws.ws.close();
          return false;
        } catch {
          return true;
        }
      };
      assert.ok(await refused(otherClient), "a client certificate from another CA got through");
      assert.ok(await refused({}), "a client without a certificate got through");
      assert.equal(plain.accepted.length + verifying.accepted.length, 2);
    } finally {
      await plain.close();
      await verifying.close();
    }
  });

  test("a taken port fails with the address; close() frees it and keeps clients", async () => {
    const server = await listenForTest(adapter, { type: "ws" });
    const ws = await connectWs(`ws://${host}:${server.port}/mqtt`, ["mqtt"]);
    try {
      await assertPortTaken(adapter, { hostname: host, port: server.port, type: "ws" });
      await server.close();
      const again = await adapter.listen({
        hostname: host,
        port: server.port,
        type: "ws",
        onConnection: echo,
      });
      await again.close();
      ws.ws.send(bytes("still here"));
      assert.equal(text(await ws.receive(10)), "still here");
    } finally {
      ws.ws.close();
      await ws.closed;
      await server.close();
    }
  });

  test("WebSocket on IPv6 loopback", async (t) => {
    if (await skipWithoutIpv6(t)) return;
    const server = await listenForTest(adapter, { hostname: "::1", type: "ws" });
    try {
      const ws = await connectWs(`ws://[::1]:${server.port}/mqtt`, ["mqtt"]);
      ws.ws.send(bytes("v6"));
      assert.equal(text(await ws.receive(2)), "v6");
      ws.ws.close();
      await ws.closed;
    } finally {
      await server.close();
    }
  });
});
