/**
 * Reading a YAML configuration file.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument } from "yaml";
import { ConfigError } from "./error.ts";
import { describeFsError } from "./files.ts";

/**
 * Reads and parses a YAML configuration file (YAML 1.2, so `on`/`off` stay strings; `<<` merge
 * keys work, for listeners sharing settings through anchors). An empty file is an empty map.
 * Rejects with a {@link ConfigError} whose problems name the file, line and column of every
 * syntax error, or the file and the reason it cannot be read. The result is not validated: pass
 * it to `resolveConfig`.
 */
export async function loadConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ConfigError([
      `${path}: cannot read the configuration file: ${describeFsError(error)}`,
    ]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return `${path}:${line}:${col}: ${error.message}`;
    }));
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error) {
    // Alias bombs and similar are only caught while building the value.
    throw new ConfigError([`${path}: ${error instanceof Error ? error.message : String(error)}`]);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    const what = Array.isArray(value) ? "a list" : `the ${typeof value} ${JSON.stringify(value)}`;
    throw new ConfigError([`${path}: the document is ${what}, not a map of configuration keys`]);
  }
  return value;
}
