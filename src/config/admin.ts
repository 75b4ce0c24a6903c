/**
 * The `admin` section (who may use `type: http` listeners) and the logging keys `log-format` and
 * `log-level`.
 *
 * @module
 */
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log.ts";
import { isRecord, type Problems } from "./problems.ts";
import { checkStringList, checkSwitch } from "./values.ts";

/** The keys of `admin`. */
export const ADMIN_KEYS: readonly string[] = ["users", "public-metrics"];

/** The valid part of `admin`. */
export interface CheckedAdmin {
  users?: string[];
  publicMetrics?: boolean;
}

/** Checks the `admin` section; absent or empty (all keys commented out) gives `{}`. */
export function checkAdmin(problems: Problems, value: unknown): CheckedAdmin {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) {
    problems.invalid(["admin"], value, "a map of admin settings (users, public-metrics)");
    return {};
  }
  problems.unknownKeys(["admin"], value, ADMIN_KEYS);
  const out: CheckedAdmin = {};
  if ("users" in value) {
    out.users = checkStringList(
      problems,
      ["admin", "users"],
      value.users,
      "a list of user names from auth.password-file",
      "a user name",
    );
  }
  if ("public-metrics" in value) {
    out.publicMetrics = checkSwitch(problems, ["admin", "public-metrics"], value["public-metrics"]);
  }
  return out;
}

/** `log-level`: one of debug, info, warn, error, silent. */
export function checkLogLevel(problems: Problems, value: unknown): LogLevel | undefined {
  if (LOG_LEVELS.includes(value as LogLevel)) return value as LogLevel;
  problems.invalid(["log-level"], value, LOG_LEVELS.join(", ").replace(/, (\w+)$/, " or $1"));
  return undefined;
}

/** `log-format`: `text` (one readable line each) or `json` (JSON lines). */
export function checkLogFormat(problems: Problems, value: unknown): LogFormat | undefined {
  if (LOG_FORMATS.includes(value as LogFormat)) return value as LogFormat;
  problems.invalid(["log-format"], value, "text or json");
  return undefined;
}
