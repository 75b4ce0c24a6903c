import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import { getRuntimeAdapter } from "../../src/runtime/select.ts";
import type { Connection, RuntimeAdapter, TlsOptions } from "../../src/runtime/types.ts";
import {
  connectTls,
  deferred,
  echo,
  hasIpv6Loopback,
  pattern,
  sameBytes,
  tlsEcho,
} from "./helpers.ts";

const host = "127.0.0.1";

describe("runtime adapter: TLS", () => {
  let adapter: RuntimeAdapter;
  let dir: string;
  let paths: CertificatePaths;
  let pem: Record<keyof CertificatePaths, string>;
  let serverTls: TlsOptions;

  before(async () => {
    adapter = await getRuntimeAdapter();
    dir = await mkdtemp(join(tmpdir(), "broker-certs-"));
    paths = await generateCertificates(dir);
    const entries = await Promise.all(
      Object.entries(paths).map(async ([name, path]) => [name, await readFile(path, "utf8")]),
    );
    pem = Object.fromEntries(entries);
    serverTls = { cert: pem.serverCert, key: pem.serverKey };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("round trip over TLS", async () => {
    const accepted: Connection[] = [];
    const server = await adapter.listen({
      hostname: host,
      port: 0,
      type: "tcp",
      tls: serverTls,
      onConnection(conn) {
        accepted.push(conn);
        echo(conn);
      },
    });
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
    let accepted = 0;
    const server = await adapter.listen({
      hostname: host,
      port: 0,
      type: "tcp",
      tls: serverTls,
      onConnection(conn) {
        accepted++;
        echo(conn);
      },
    });
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
      assert.equal(accepted, 1);
    } finally {
      await server.close();
    }
  });

  test("client certificates: signed by the CA accepted, others refused", async () => {
    let accepted = 0;
    const server = await adapter.listen({
      hostname: host,
      port: 0,
      type: "tcp",
      tls: { ...serverTls, ca: pem.ca },
      onConnection(conn) {
        accepted++;
        echo(conn);
      },
    });
    try {
      const trusted = { ca: pem.ca, cert: pem.clientCert, key: pem.clientKey };
      const untrusted = { ca: pem.ca, cert: pem.otherClientCert, key: pem.otherClientKey };
      assert.equal(await tlsEcho(server.port, trusted), "echoed");
      assert.equal(await tlsEcho(server.port, untrusted), "refused");
      assert.equal(await tlsEcho(server.port, { ca: pem.ca }), "refused");
      assert.equal(accepted, 1);
    } finally {
      await server.close();
    }
  });

  test("a taken TLS port fails with the address in the message", async () => {
    const first = await adapter.listen({
      hostname: host,
      port: 0,
      type: "tcp",
      tls: { ...serverTls, ca: pem.ca },
      onConnection: echo,
    });
    try {
      for (const tls of [serverTls, { ...serverTls, ca: pem.ca }]) {
        await assert.rejects(
          adapter.listen({
            hostname: host,
            port: first.port,
            type: "tcp",
            tls,
            onConnection: echo,
          }),
          { message: `${host}:${first.port}: address already in use` },
        );
      }
    } finally {
      await first.close();
    }
  });

  test("TLS on IPv6 loopback", async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip("this machine cannot bind ::1 (IPv6 disabled or no loopback address)");
      return;
    }
    const server = await adapter.listen({
      hostname: "::1",
      port: 0,
      type: "tcp",
      tls: serverTls,
      onConnection: echo,
    });
    try {
      const client = await connectTls(server.port, { ca: pem.ca }, "::1");
      client.socket.write("v6");
      assert.equal(new TextDecoder().decode(await client.receive(2)), "v6");
      client.socket.end();
      await client.closed;
    } finally {
      await server.close();
    }
  });
});
