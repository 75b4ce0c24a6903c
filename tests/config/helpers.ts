/**
 * Helpers for the configuration tests: temporary folders and the problems a configuration has.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/config/error.ts";
import { resolveConfig } from "../../src/config/resolve.ts";

/** Runs `body` with a fresh temporary folder, removed afterwards. */
export async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "broker-config-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The problems `resolveConfig` rejects `input` with; fails when it resolves. */
export async function problemsOf(input: unknown, baseDir?: string): Promise<readonly string[]> {
  try {
    await resolveConfig(input, { baseDir });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.problems;
  }
  assert.fail("the configuration was accepted");
}

/** A PEM certificate block; the configuration only checks PEM framing, not the DER inside. */
export const CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
/** A second, different certificate block. */
export const CERT2 = "-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n";
/** A PEM private key block. */
export const KEY = "-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n";
