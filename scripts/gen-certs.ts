/**
 * Generates throwaway TLS material for tests with the `openssl` CLI: a CA, a server certificate
 * for `localhost` (SAN DNS:localhost, IP:127.0.0.1, IP:::1), a client certificate signed by that CA,
 * and a client certificate signed by a second CA the server does not trust.
 *
 *   tsx scripts/gen-certs.ts DIR
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Paths of the PEM files written by {@linkcode generateCertificates}. */
export interface CertificatePaths {
  /** The CA that signs the server and the trusted client certificate. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Signed by `ca`: a server that trusts `ca` accepts it. */
  clientCert: string;
  clientKey: string;
  /** Signed by a second CA that nothing trusts: a server that trusts `ca` refuses it. */
  otherClientCert: string;
  otherClientKey: string;
}

// EC P-256 keys are quick to make, and every runtime's TLS stack (OpenSSL, BoringSSL, rustls)
// accepts them.
const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const days = ["-days", "30"];

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  // rustls (Deno) insists on a CA marked as such, so the extensions are explicit rather than left
  // to whatever openssl.cnf the machine has.
  await run("openssl", [
    "req",
    "-x509",
    ...newKey,
    ...days,
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: { cert: string; key: string },
  extensions: string,
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await run("openssl", [
    "req",
    "-new",
    ...newKey,
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/CN=${name}`,
  ]);
  await writeFile(ext, extensions);
  // OpenSSL 3 picks a random serial when none is given, so no .srl file is left behind.
  await run("openssl", [
    "x509",
    "-req",
    ...days,
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  await rm(csr);
  await rm(ext);
  return { cert, key };
}

const leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n";

/** Writes a CA, a server certificate and two client certificates into `dir` (created if needed). */
export async function generateCertificates(dir: string): Promise<CertificatePaths> {
  await mkdir(dir, { recursive: true });
  const ca = await makeCa(dir, "ca");
  const otherCa = await makeCa(dir, "other-ca");
  const [server, client, otherClient] = await Promise.all([
    makeLeaf(
      dir,
      "localhost",
      ca,
      `${leaf}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n`,
    ),
    makeLeaf(dir, "client", ca, `${leaf}extendedKeyUsage=clientAuth\n`),
    makeLeaf(dir, "other-client", otherCa, `${leaf}extendedKeyUsage=clientAuth\n`),
  ]);
  return {
    ca: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    otherClientCert: otherClient.cert,
    otherClientKey: otherClient.key,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: tsx scripts/gen-certs.ts DIR");
    process.exit(2);
  }
  const paths = await generateCertificates(dir);
  for (const [name, path] of Object.entries(paths)) console.log(`${name}: ${path}`);
}
