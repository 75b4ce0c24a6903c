/**
 * The `persistence` section: where the store lives and how it meets the disk. Absent: nothing
 * survives a restart.
 *
 * @module
 */
import { resolve } from "node:path";
import { isRecord, type Problems } from "./problems.ts";
import { checkString } from "./values.ts";
import type { PersistenceSettings } from "./types.ts";
import { DEFAULTS } from "./defaults.ts";

const KEYS = ["path", "sync"];
const SYNC_MODES = ["full", "normal"] as const;

/** The valid part of `persistence`, path not yet resolved; undefined when absent or invalid. */
export function checkPersistence(
  problems: Problems,
  value: unknown,
): PersistenceSettings | undefined {
  if (value === undefined || value === null) return undefined;
  const path = ["persistence"];
  if (!isRecord(value)) {
    problems.invalid(path, value, "a map with path and sync");
    return undefined;
  }
  problems.unknownKeys(path, value, KEYS);
  if (!("path" in value)) {
    problems.add(path, "no path (expected the store's file, e.g. /var/lib/broker/broker.db)");
    return undefined;
  }
  const file = checkString(problems, [...path, "path"], value.path, "a file path");
  let sync: PersistenceSettings["sync"] = DEFAULTS["persistence.sync"];
  if ("sync" in value) {
    const given = value.sync;
    if (!SYNC_MODES.includes(given as typeof SYNC_MODES[number])) {
      problems.invalid([...path, "sync"], given, "full or normal");
      return undefined;
    }
    sync = given as PersistenceSettings["sync"];
  }
  return file === undefined ? undefined : { path: file, sync };
}

/** `persistence` with its path made absolute against `baseDir` (the config file's folder). */
export function resolvePersistence(
  settings: PersistenceSettings | undefined,
  baseDir: string,
): PersistenceSettings | undefined {
  return settings && { ...settings, path: resolve(baseDir, settings.path) };
}
