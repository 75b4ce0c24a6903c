/**
 * `topic_taboo`: the topics in `topic-check.taboo` (filters allowed) are forbidden to everyone but
 * the user `admin`, as in moat.mqtt. Unlike there, a subscription is refused when its filter could
 * match a taboo topic at all, so `#` cannot be used to read them.
 *
 * It only ever refuses: for every other topic (and for `admin`) it abstains, so what is allowed
 * is up to the other topic plugins (`topic_acl`); alone it lets no topic through.
 *
 * @module
 */
import { builtinName } from "../../config/plugins.ts";
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
      const asked = config.topicCheck.plugins ?? [];
      const onlyTaboo = asked.length > 0 && asked.every((n) => builtinName(n) === "topic_taboo");
      if (config.topicCheck.enabled && onlyTaboo) {
        logger.warn(
          "topic-check.plugins names only topic_taboo, which never allows a topic: every topic " +
            "is denied; add topic_acl (or another topic plugin) to allow some",
        );
      }
    },
    topicFiltering(client, topic, action) {
      if (client.username === TABOO_ADMIN) return undefined;
      const hit = action === "subscribe"
        ? taboo.some((t) => filtersOverlap(t, topic))
        : taboo.some((t) => topicMatches(t, topic));
      return hit ? false : undefined;
    },
  };
}
