/**
 * Checks for single values: each returns the value in its resolved form, or undefined after
 * recording why it is wrong. Nothing is coerced: `"1883"` is a string, not a number.
 *
 * @module
 */
import type { KeyPath, Problems } from "./problems.ts";

/** The longest wait a timer can take (2^31 - 1 ms); longer ones fire at once on every runtime. */
export const MAX_SECONDS = 2147483;

function quotedNumberHint(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
    ? "it is a string: remove the quotes"
    : undefined;
}

/** An integer in `min..max` (`max` undefined: no upper bound). */
export function checkInteger(
  problems: Problems,
  path: KeyPath,
  value: unknown,
  min: number,
  max?: number,
): number | undefined {
  const ok = typeof value === "number" && Number.isInteger(value) && value >= min &&
    (max === undefined || value <= max);
  if (ok) return value;
  const expected = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  problems.invalid(path, value, expected, quotedNumberHint(value));
  return undefined;
}

/**
 * A number of seconds (fractions allowed), at least 0 (more than 0 when `positive`) and at most
 * `max` (by default what a timer can wait), returned in milliseconds.
 */
export function checkSeconds(
  problems: Problems,
  path: KeyPath,
  value: unknown,
  positive = false,
  max = MAX_SECONDS,
): number | undefined {
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (positive ? value > 0 : value >= 0) && value <= max;
  if (!ok) {
    const range = positive ? `> 0 and <= ${max}` : `from 0 to ${max}`;
    problems.invalid(path, value, `a number of seconds ${range}`, quotedNumberHint(value));
    return undefined;
  }
  // A tiny positive value must not round down to 0, which means "disabled" for some keys.
  return value === 0 ? 0 : Math.max(1, Math.round(value * 1000));
}

/** `on`/`off` (any case; YAML 1.2 reads them as strings) or `true`/`false`. */
export function checkSwitch(
  problems: Problems,
  path: KeyPath,
  value: unknown,
): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const word = value.toLowerCase();
    if (word === "on") return true;
    if (word === "off") return false;
  }
  problems.invalid(path, value, "on/off (true/false)");
  return undefined;
}

/** A non-empty string; `expected` names what it should be ("a file path"). */
export function checkString(
  problems: Problems,
  path: KeyPath,
  value: unknown,
  expected: string,
): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  problems.invalid(path, value, expected, quotedNumberHint(value));
  return undefined;
}

/**
 * A list of non-empty strings, each checked by `item` (which returns why it is wrong, if it is);
 * bad entries are reported by index and left out.
 */
export function checkStringList(
  problems: Problems,
  path: KeyPath,
  value: unknown,
  expected: string,
  itemExpected: string,
  item?: (entry: string) => string | undefined,
): string[] | undefined {
  if (!Array.isArray(value)) {
    problems.invalid(path, value, expected);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((entry: unknown, i) => {
    if (typeof entry !== "string" || entry === "") {
      problems.invalid([...path, i], entry, itemExpected);
      return;
    }
    const why = item?.(entry);
    if (why === undefined) out.push(entry);
    else problems.invalid([...path, i], entry, itemExpected, why);
  });
  return out;
}
