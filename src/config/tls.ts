/**
 * TLS material for a listener with `ssl: on`: the certificate and key, and the CA certificates of
 * `cafile`, every file of `capath` and `cadata`, concatenated.
 *
 * @module
 */
import { resolve } from "node:path";
import type { TlsOptions } from "../runtime/types.ts";
import type { FileReader } from "./files.ts";
import type { KeyPath, Problems } from "./problems.ts";

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/;

/** The PEM certificate blocks in a text. */
export function certificates(text: string): string[] {
  return text.match(CERTIFICATE) ?? [];
}

/** A listener's TLS keys after `default` is merged in, each with where it was written. */
export interface TlsSettings {
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  capath?: string;
  cadata?: string;
  /** The key path a setting was written at (its own listener or `default`). */
  pathOf(key: "certfile" | "keyfile" | "cafile" | "capath" | "cadata"): KeyPath;
}

/**
 * Reads a listener's TLS files (relative to `baseDir`) and checks that each holds what it should;
 * returns undefined after recording the problems when anything is wrong.
 */
export async function readTls(
  settings: TlsSettings,
  baseDir: string,
  files: FileReader,
  problems: Problems,
): Promise<TlsOptions | undefined> {
  let ok = true;
  const fail = (key: Parameters<TlsSettings["pathOf"]>[0], message: string) => {
    problems.add(settings.pathOf(key), message);
    ok = false;
  };
  const readText = async (key: "certfile" | "keyfile" | "cafile", file: string) => {
    const path = resolve(baseDir, file);
    const result = await files.read(path);
    if (result.error !== undefined) fail(key, result.error);
    return { path, text: result.text };
  };

  let cert = "";
  if (settings.certfile !== undefined) {
    const { path, text } = await readText("certfile", settings.certfile);
    if (text !== undefined && certificates(text).length === 0) {
      fail("certfile", `${path} holds no PEM certificate`);
    }
    cert = text ?? "";
  }
  let key = "";
  if (settings.keyfile !== undefined) {
    const { path, text } = await readText("keyfile", settings.keyfile);
    if (text !== undefined && !PRIVATE_KEY.test(text)) {
      fail("keyfile", `${path} holds no PEM private key`);
    } else if (text !== undefined && ENCRYPTED_KEY.test(text)) {
      fail("keyfile", `${path} is encrypted and there is no passphrase setting; decrypt it`);
    }
    key = text ?? "";
  }

  const ca: string[] = [];
  if (settings.cafile !== undefined) {
    const { path, text } = await readText("cafile", settings.cafile);
    if (text !== undefined) {
      const found = certificates(text);
      if (found.length === 0) fail("cafile", `${path} holds no PEM certificate`);
      ca.push(...found);
    }
  }
  if (settings.capath !== undefined) {
    const path = resolve(baseDir, settings.capath);
    const { texts, errors } = await files.readFolder(path);
    for (const error of errors) fail("capath", error);
    const found = texts.flatMap(certificates);
    if (errors.length === 0 && found.length === 0) {
      fail("capath", `${path} holds no PEM certificate`);
    }
    ca.push(...found);
  }
  if (settings.cadata !== undefined) {
    const found = certificates(settings.cadata);
    if (found.length === 0) fail("cadata", "holds no PEM certificate");
    ca.push(...found);
  }

  if (!ok) return undefined;
  const unique = [...new Set(ca)];
  return unique.length === 0 ? { cert, key } : { cert, key, ca: unique.join("\n") + "\n" };
}
