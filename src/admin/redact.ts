/**
 * The running configuration as the admin API shows it: every value that could be a secret
 * replaced. It walks the whole tree rather than naming today's secret fields, so that a
 * password a later feature adds (a bridge's, a store's, a cluster's) is hidden without anyone
 * remembering to list it here.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.ts";

/** What a hidden value reads as. */
export const REDACTED = "[redacted]";

/** Keys whose string values are secrets: `password`, TLS `key`, `token`, `secret`, ... */
const SECRET_KEY = /(password|passphrase|secret|token|key)$/i;

/** The password in a URL's user info (`redis://user:pw@host`). */
const URL_PASSWORD = /^([a-z][a-z\d+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i;

function redactValue(value: unknown, key: string): unknown {
  if (typeof value === "string") {
    return SECRET_KEY.test(key) ? REDACTED : value.replace(URL_PASSWORD, `$1:${REDACTED}@`);
  }
  // Functions are code an embedder passed in (plugin hooks): nothing an operator reads.
  if (typeof value === "function") return undefined;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, key));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [name, redactValue(item, name)]),
    );
  }
  return value;
}

/** `config` with secrets replaced by {@link REDACTED} and plugin objects shown by name. */
export function redactConfig(config: ResolvedConfig): unknown {
  return redactValue({
    ...config,
    plugins: config.plugins?.map((p) => typeof p === "string" ? p : `[plugin ${p.name}]`),
  }, "");
}
