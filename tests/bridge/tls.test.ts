import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CertificatePaths, generateCertificates } from "../../scripts/gen-certs.ts";
import { eventually, startBroker } from "../helpers/broker.ts";
import { bridgeState, edge, record } from "./helpers.ts";

describe("a bridge over TLS", () => {
  let dir: string;
  let certs: CertificatePaths;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "bridge-tls-"));
    certs = await generateCertificates(dir);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("verifies the remote with cafile and presents certfile/keyfile", async () => {
    const remote = await startBroker({
      listeners: {
        default: {
          bind: "127.0.0.1:0",
          ssl: "on",
          certfile: certs.serverCert,
          keyfile: certs.serverKey,
          cafile: certs.ca,
        },
      },
    });
    const got = record(remote.broker, "#");
    const local = await edge({
      address: `mqtts://127.0.0.1:${remote.port}`,
      cafile: certs.ca,
      certfile: certs.clientCert,
      keyfile: certs.clientKey,
      topics: [{ pattern: "t", qos: 2 }],
    });
    try {
      await bridgeState(local.broker).wait("1");
      local.broker.publish({ topic: "t", payload: "secret", qos: 2 });
      await eventually(() => got.length === 1, 20000, "the message over TLS");
      assert.equal(got[0].payload, "secret");
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });
});
