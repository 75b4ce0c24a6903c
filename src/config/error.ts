/**
 * The one error type configuration problems are reported with.
 *
 * @module
 */

/**
 * Every problem found in a configuration, each a line naming the key path, the bad value and what
 * is expected; thrown once with all of them, so a user fixes the whole file in one pass.
 */
export class ConfigError extends Error {
  /** One line per problem, in the order they were found. */
  readonly problems: readonly string[];

  /** Builds the error; the message lists the problems one per line. */
  constructor(problems: readonly string[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`invalid configuration (${count}):\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = [...problems];
  }
}
