/**
 * The password file: `user:hash` lines, as `mosquitto_passwd` writes them; `#` comments and blank
 * lines are allowed.
 *
 * @module
 */
import { hashScheme } from "./hash.ts";
import { MAX_PBKDF2_ITERATIONS } from "./mosquitto.ts";

/** A password file line that cannot be used; `line` is 1-based. */
export class PasswordFileError extends Error {
  /** The offending line number, 1-based. */
  readonly line: number;
  /** Builds the error; the message names the source and the line. */
  constructor(source: string, line: number, problem: string) {
    super(`${source}, line ${line}: ${problem}`);
    this.name = "PasswordFileError";
    this.line = line;
  }
}

/**
 * Parses a password file into user name -> hash. Throws {@link PasswordFileError} on the first
 * line that has no `:`, an empty user name, a hash of an unknown scheme, or a repeated user.
 * `source` names the file in messages.
 */
export function parsePasswordFile(text: string, source = "password file"): Map<string, string> {
  const users = new Map<string, string>();
  const seen = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const n = i + 1;
    const colon = line.indexOf(":");
    if (colon < 0) throw new PasswordFileError(source, n, "expected user:hash");
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (user === "") throw new PasswordFileError(source, n, "empty user name");
    const iterations = Number(/^\$7\$(\d+)\$/.exec(hash)?.[1]);
    if (iterations > MAX_PBKDF2_ITERATIONS) {
      throw new PasswordFileError(
        source,
        n,
        `user ${JSON.stringify(user)} has a $7$ hash of ${iterations} iterations, more than ` +
          `${MAX_PBKDF2_ITERATIONS}; make a new one with \`broker passwd\``,
      );
    }
    if (hashScheme(hash) === undefined) {
      throw new PasswordFileError(
        source,
        n,
        `user ${JSON.stringify(user)} has no hash this broker can verify ` +
          "(expected $7$, $6$, $5$ or $scram-sha-256$; make one with `broker passwd`)",
      );
    }
    const before = seen.get(user);
    if (before !== undefined) {
      throw new PasswordFileError(
        source,
        n,
        `user ${JSON.stringify(user)} already on line ${before}`,
      );
    }
    seen.set(user, n);
    users.set(user, hash);
  }
  return users;
}
