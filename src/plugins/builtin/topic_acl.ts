/**
 * `topic_acl`: per-user lists of the topic filters a client may use.
 *
 * `topic-check.acl` governs subscribing (and receiving), and publishing too unless
 * `topic-check.publish-acl` is given, which then governs publishing. Clients without a user name
 * use the `anonymous` entry; a user with no entry may do nothing. In a filter, `%u` stands for the
 * user name and `%c` for the client id, put in literally and once; a value holding `/`, `+` or `#`
 * gets nothing from the filter, so a name can never widen it. A request is allowed when one allowed filter covers it
 * level by level (`calendar/#` allows `calendar/+/x`, not `#`); topics starting with `$` are only
 * allowed by filters that name that first level (`$SYS/#`), never by a leading wildcard.
 *
 * @module
 */
import type { ResolvedConfig } from "../../config/types.ts";
import { filterCovers, topicFilterError } from "../../protocol/topic.ts";
import type { ClientInfo, Plugin } from "../types.ts";
import { isAnonymous } from "./common.ts";

/** The user name whose entry applies to clients without one. */
export const ANONYMOUS_ENTRY = "anonymous";

interface Pattern {
  readonly filter: string;
  /**
   * The filter split around its `%u`/`%c` tokens: literal text at even indexes, tokens at odd
   * ones; undefined when it has none.
   */
  readonly pieces?: readonly string[];
}

type Table = Map<string, Pattern[]>;

/** The substitution tokens, captured so that `split` keeps them. */
const TOKEN = /(%[uc])/g;

function compile(
  acl: Record<string, string[]> | undefined,
  key: string,
  problems: string[],
): Table | undefined {
  if (acl === undefined) return undefined;
  const table: Table = new Map();
  for (const [user, filters] of Object.entries(acl)) {
    const patterns: Pattern[] = [];
    for (const filter of filters) {
      const pieces = filter.split(TOKEN);
      const error = topicFilterError(pieces.length > 1 ? filter.replace(TOKEN, "x") : filter);
      if (error) problems.push(`${key}.${user}: ignoring ${JSON.stringify(filter)}: ${error}`);
      else patterns.push(pieces.length > 1 ? { filter, pieces } : { filter });
    }
    table.set(user, patterns);
  }
  return table;
}

/**
 * A value put into a filter must stay inside its level: a user called `+` or `a/b` must not widen
 * `users/%u/#` to other users' topics. Such clients get nothing from that filter.
 */
function levelSafe(value: string | undefined): value is string {
  return value !== undefined && value !== "" && !/[/+#]/.test(value) && !value.includes("\0");
}

/**
 * The filter for this client, each token replaced once by the literal value (a user named `%c`
 * stays `%c`, a client id `$&` stays `$&`), or undefined when a value is missing or would leave
 * its level. A value that opens the filter may not start with `$` either: it would move the
 * filter into the `$SYS` space that wildcards never reach.
 */
function substitute(pieces: readonly string[], client: ClientInfo): string | undefined {
  let out = pieces[0];
  for (let i = 1; i < pieces.length; i += 2) {
    const value = pieces[i] === "%u"
      ? (isAnonymous(client.username) ? undefined : client.username)
      : client.clientId;
    if (!levelSafe(value) || (out === "" && value.startsWith("$"))) return undefined;
    out += value + pieces[i + 1];
  }
  return out;
}

function allowed(table: Table | undefined, client: ClientInfo, topic: string): boolean {
  if (table === undefined) return false;
  const patterns = table.get(isAnonymous(client.username) ? ANONYMOUS_ENTRY : client.username);
  if (patterns === undefined) return false;
  for (const p of patterns) {
    const filter = p.pieces === undefined ? p.filter : substitute(p.pieces, client);
    if (filter !== undefined && filterCovers(filter, topic)) return true;
  }
  return false;
}

/** Makes the `topic_acl` plugin. Invalid filters in the lists are logged and ignored. */
export function topicAcl(config: ResolvedConfig): Plugin {
  const problems: string[] = [];
  const acl = compile(config.topicCheck.acl, "topic-check.acl", problems);
  const publishAcl = compile(config.topicCheck.publishAcl, "topic-check.publish-acl", problems);
  const forPublish = publishAcl ?? acl;
  return {
    name: "topic_acl",
    setup({ logger }) {
      for (const problem of problems) logger.warn(problem);
      if (config.topicCheck.enabled && acl === undefined && publishAcl === undefined) {
        logger.warn("topic-check.acl is not set: topic_acl denies every topic");
      }
    },
    topicFiltering(client, topic, action) {
      return allowed(action === "publish" ? forPublish : acl, client, topic);
    },
  };
}
