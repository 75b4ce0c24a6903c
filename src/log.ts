/**
 * A small leveled logger; the CLI prints to stderr, embedders pass their own or silence it.
 *
 * @module
 */

/** Log levels, most verbose first. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/**
 * How lines look: `text` is `<ISO time> <LEVEL> <message>`; `json` is one JSON object a line
 * (`{"time":…,"level":…,"msg":…}`), for log shippers.
 */
export type LogFormat = "text" | "json";

/** What the broker logs through. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * False when debug lines are dropped, so that callers on busy paths can skip building them;
   * absent counts as true.
   */
  readonly debugEnabled?: boolean;
}

/** A logger that always says whether it writes debug lines. */
export interface BrokerLogger extends Logger {
  readonly debugEnabled: boolean;
}

/** Every log level, most verbose first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "silent"];

/** Every log format. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/**
 * A logger that writes lines at or above `level` through `write` (default: `console.error`), in
 * `format`.
 */
export function createLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => console.error(line),
  format: LogFormat = "text",
): Logger {
  const at = ORDER[level];
  const emit = (lvl: Exclude<LogLevel, "silent">) => (message: string) => {
    if (ORDER[lvl] < at) return;
    const time = new Date().toISOString();
    // JSON.stringify escapes every control character, so a message cannot break a JSON line.
    write(
      format === "json"
        ? JSON.stringify({ time, level: lvl, msg: message })
        : `${time} ${lvl.toUpperCase()} ${message}`,
    );
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    debugEnabled: at <= ORDER.debug,
  };
}

/** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with every control character written as an escape (`\n`, `\u001b`), so that text a
 * client chose (a client id, a user name, a topic) can neither end a log line nor forge another.
 * Backslashes are left alone: they cannot break a line, and file paths stay readable.
 */
function escapeForLog(text: string): string {
  return text.replace(
    UNSAFE,
    (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * A logger that escapes control characters in every message before `logger` sees it, so that
 * text a client chose cannot forge a log line. The broker and its plugins log only through one:
 * no call site can forget it, whoever provides the logger.
 */
export function escapingLogger(logger: Logger): BrokerLogger {
  const debugEnabled = logger.debugEnabled ?? true;
  return {
    debug: debugEnabled ? (m) => logger.debug(escapeForLog(m)) : () => {},
    info: (m) => logger.info(escapeForLog(m)),
    warn: (m) => logger.warn(escapeForLog(m)),
    error: (m) => logger.error(escapeForLog(m)),
    debugEnabled,
  };
}
