/**
 * `topic_taboo`: the topics in `topic-check.taboo` (filters allowed) are forbidden to everyone but
 * the user `admin`, as in moat.mqtt. Unlike there, a subscription is refused when its filter could
 * match a taboo topic at all, so `#` cannot be used to read them.
 *
 * @module
 */
import type { ResolvedConfig } from "../../config/types.ts";
import { topicFilterError, topicMatches } from "../../protocol/topic.ts";
import type { Plugin } from "../types.ts";

/** The one user the taboo does not apply to. */
export const TABOO_ADMIN = "admin";

function firstLevelWildcard(levels: string[]): boolean {
  return levels[0] === "+" || levels[0] === "#";
}

/** Whether some topic name is matched by both filters (both valid). */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split("/");
  const y = b.split("/");
  if (firstLevelWildcard(x) && y[0].startsWith("$")) return false;
  if (firstLevelWildcard(y) && x[0].startsWith("$")) return false;
  for (let i = 0;; i++) {
    if (x[i] === "#" || y[i] === "#") return true;
    if (i === x.length || i === y.length) return x.length === y.length;
    if (x[i] !== "+" && y[i] !== "+" && x[i] !== y[i]) return false;
  }
}

/** Makes the `topic_taboo` plugin. Invalid entries are logged and ignored. */
export function topicTaboo(config: ResolvedConfig): Plugin {
  const invalid = config.topicCheck.taboo.filter((t) => topicFilterError(t) !== undefined);
  const taboo = config.topicCheck.taboo.filter((t) => topicFilterError(t) === undefined);
  return {
    name: "topic_taboo",
    setup({ logger }) {
      for (const t of invalid) {
        logger.warn(`topic-check.taboo: ignoring ${JSON.stringify(t)}: ${topicFilterError(t)}`);
      }
    },
    topicFiltering(client, topic, action) {
      if (client.username === TABOO_ADMIN) return true;
      const hit = action === "subscribe"
        ? taboo.some((t) => filtersOverlap(t, topic))
        : taboo.some((t) => topicMatches(t, topic));
      return !hit;
    },
  };
}
