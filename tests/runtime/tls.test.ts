import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import type { RuntimeAdapter, TlsOptions } from "../../src/runtime/types.ts";
import {
  assertPortTaken,
  connectTls,
  deferred,
  listenForTest,
  pattern,
  sameBytes,
  skipWithoutIpv6,
  type TestCertificates,
  testCertificates,
  text,
  tlsEcho,
} from "./helpers.ts";
import { eventually } from "../helpers/broker.ts";

const host = "127.0.0.1";

describe("runtime adapter: TLS", () => {
  let adapter: RuntimeAdapter;
  let certs: TestCertificates;
  let pem: TestCertificates["pem"];
  let serverTls: TlsOptions;

  before(async () => {
    adapter = await getRuntimeAdapter();
    certs = await testCertificates();
    pem = certs.pem;
    serverTls = { cert: pem.serverCert, key: pem.serverKey };
  });

  after(async () => {
    await certs.remove();
  });

  test("round trip over TLS", async () => {
    const { server, accepted } = await listenForTest(adapter, { type: "tcp", tls: serverTls });
    try {
      const client = await connectTls(server.port, { ca: pem.ca });
      const data = pattern(1024 * 1024);
      client.socket.write(data);
      assert.ok(sameBytes(await client.receive(data.byteLength), data));
      assert.equal(accepted[0].remoteAddr.transport, "tls");
      client.socket.end();
      await client.closed;
    } finally {
      await server.close();
    }
  });

  test("a failed handshake never reaches the core nor crashes", async () => {
    const { server, accepted } = await listenForTest(adapter, { type: "tcp", tls: serverTls });
    try {
      // The client does not trust the server's CA, so it aborts the handshake.
      assert.equal(await tlsEcho(server.port, { ca: pem.otherClientCert }), "refused");
      // A plain-text client talking to a TLS port.
      const garbage = deferred();
      const net = await import("node:net");
      const socket = net.connect(server.port, host, () => socket.write("CONNECT garbage\r\n\r\n"));
      socket.on("error", () => {});
      socket.resume();
      socket.on("close", () => garbage.resolve());
      await garbage.promise;
      assert.equal(await tlsEcho(server.port, { ca: pem.ca }), "echoed");
      assert.equal(accepted.length, 1);
    } finally {
      await server.close();
    }
  });

  test("client certificates: signed by the CA accepted, others refused and reported", async () => {
    const { server, accepted, handshakeErrors } = await listenForTest(adapter, {
      type: "tcp",
      tls: { ...serverTls, ca: pem.ca },
    });
    try {
      const trusted = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey };
      const untrusted = { ca: pem.ca, cert: pem.otherClientCert, key: pem.otherClientKey };
      assert.equal(await tlsEcho(server.port, trusted), "echoed");
      assert.equal(await tlsEcho(server.port, untrusted), "refused");
      assert.equal(await tlsEcho(server.port, { ca: pem.ca }), "refused");
      assert.equal(accepted.length, 1);
      // Both refusals reach the log with the peer and a reason, not just a closed socket.
      await eventually(() => handshakeErrors.length === 2, 5000, "two handshake errors");
      for (const error of handshakeErrors) {
        assert.equal(
          error.hostname.replace(/^::ffff:/, ""),
          "127.0.0.1",
          JSON.stringify(handshakeErrors),
        );
        assert.ok(error.reason.length > 0);
      }
    } finally {
      await server.close();
    }
  });

  test("a taken TLS port fails with the address in the message", async () => {
    const first = await listenForTest(adapter, { type: "tcp", tls: { ...serverTls, ca: pem.ca } });
    try {
      for (const tls of [serverTls, { ...serverTls, ca: pem.ca }]) {
        await assertPortTaken(adapter, { hostname: host, port: first.port, type: "tcp", tls });
      }
    } finally {
      await first.close();
    }
  });

  test("TLS on IPv6 loopback", async (t) => {
    if (await skipWithoutIpv6(t)) return;
    const server = await listenForTest(adapter, { hostname: "::1", type: "tcp", tls: serverTls });
    try {
      const client = await connectTls(server.port, { ca: pem.ca }, "::1");
      client.socket.write("v6");
      assert.equal(text(await client.receive(2)), "v6");
      client.socket.end();
      await client.closed;
    } finally {
      await server.close();
    }
  });
});
