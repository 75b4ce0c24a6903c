import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import { createBroker } from "../../src/broker/create.ts";
import { memoryLogger, within } from "../helpers/broker.ts";

let dir = "";
let certs: CertificatePaths;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "broker-tls-idle-"));
  certs = await generateCertificates(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("stalled TLS handshakes", () => {
  for (const type of ["tcp", "ws"] as const) {
    test(`a ${type === "tcp" ? "TLS" : "WSS"} socket that never starts its handshake is closed by connect-timeout`, async () => {
      const broker = await createBroker({
        listeners: {
          secure: {
            bind: "127.0.0.1:0",
            type,
            ssl: "on",
            certfile: certs.serverCert,
            keyfile: certs.serverKey,
          },
        },
        "connect-timeout": 1,
      }, { logger: memoryLogger() });
      const socket = net.connect(broker.listeners[0].port, "127.0.0.1");
      socket.on("error", () => {});
      try {
        const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
        await within(closed, 15000, "the broker to drop the silent TLS socket");
      } finally {
        socket.destroy();
        await broker.close();
      }
    });
  }
});
