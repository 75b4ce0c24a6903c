/**
 * `topic_acl`: per-user lists of the topic filters a client may use.
 *
 * `topic-check.acl` governs subscribing (and receiving), and publishing too unless
 * `topic-check.publish-acl` is given, which then governs publishing. Clients without a user name
 * use the `anonymous` entry; a user with no entry may do nothing. In a filter, `%u` stands for the
 * user name and `%c` for the client id. A request is allowed when one allowed filter covers it
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
  /** Whether the filter holds `%u` or `%c`. */
  readonly substituted: boolean;
}

type Table = Map<string, Pattern[]>;

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
      const substituted = filter.includes("%u") || filter.includes("%c");
      const error = topicFilterError(substituted ? filter.replace(/%[uc]/g, "x") : filter);
      if (error) problems.push(`${key}.${user}: ignoring ${JSON.stringify(filter)}: ${error}`);
      else patterns.push({ filter, substituted });
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

function substitute(filter: string, client: ClientInfo): string | undefined {
  let out = filter;
  if (out.includes("%u")) {
    if (isAnonymous(client.username) || !levelSafe(client.username)) return undefined;
    out = out.replaceAll("%u", client.username);
  }
  if (out.includes("%c")) {
    if (!levelSafe(client.clientId)) return undefined;
    out = out.replaceAll("%c", client.clientId);
  }
  return out;
}

function allowed(table: Table | undefined, client: ClientInfo, topic: string): boolean {
  if (table === undefined) return false;
  const patterns = table.get(isAnonymous(client.username) ? ANONYMOUS_ENTRY : client.username);
  if (patterns === undefined) return false;
  for (const p of patterns) {
    const filter = p.substituted ? substitute(p.filter, client) : p.filter;
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
