/**
 * Key paths and values as problem messages show them, and the list problems are collected in.
 *
 * @module
 */
import { closest } from "./suggest.ts";

/** Where a value sits in the configuration: keys and list indexes from the root. */
export type KeyPath = readonly (string | number)[];

/**
 * `listeners.default.bind`, `plugins[2]`; keys that are not plain words (a user name with a dot)
 * are quoted so the path stays unambiguous.
 */
export function formatPath(path: KeyPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z0-9_$%-]+$/.test(part)) out += out === "" ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === "" ? "configuration" : out;
}

/** A value as a message quotes it: JSON, cut short when long. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Whether a value is a plain map of keys (what YAML mappings and object literals become). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Collects problem lines; validation goes on after each one so that all are reported at once. */
export class Problems {
  readonly #lines: string[] = [];
  readonly #seen = new Set<string>();

  /** Records `path: message`; the same line twice (an inherited value) is kept once. */
  add(path: KeyPath, message: string): void {
    const line = `${formatPath(path)}: ${message}`;
    if (this.#seen.has(line)) return;
    this.#seen.add(line);
    this.#lines.push(line);
  }

  /** Records that `value` at `path` is not what was expected, with an optional hint. */
  invalid(path: KeyPath, value: unknown, expected: string, hint?: string): void {
    if (value === null) {
      this.add(path, `no value (expected ${expected})`);
      return;
    }
    this.add(path, `${formatValue(value)} is not ${expected}${hint ? ` (${hint})` : ""}`);
  }

  /**
   * Reports every key of `map` outside `known`, with the closest known key as a suggestion, and
   * returns whether there were none.
   */
  unknownKeys(path: KeyPath, map: Record<string, unknown>, known: readonly string[]): boolean {
    let clean = true;
    for (const key of Object.keys(map)) {
      if (known.includes(key)) continue;
      clean = false;
      const guess = closest(key, known);
      this.add(
        [...path, key],
        guess === undefined
          ? `unknown key (expected one of: ${known.join(", ")})`
          : `unknown key (did you mean ${guess}?)`,
      );
    }
    return clean;
  }

  /** The lines recorded so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }
}
