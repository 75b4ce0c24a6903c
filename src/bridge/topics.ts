/**
 * A bridge's topic patterns: which local and remote filters each one subscribes to, and how a
 * topic maps from one side to the other (strip one prefix, add the other).
 *
 * @module
 */
import type { ResolvedBridgeTopic } from "../config/types.ts";
import { topicMatches } from "../protocol/topic.ts";

/** The filter subscribed to locally for an `out` (or `both`) pattern. */
export function localFilter(topic: ResolvedBridgeTopic): string {
  return topic.localPrefix + topic.pattern;
}

/** The filter subscribed to on the remote for an `in` (or `both`) pattern. */
export function remoteFilter(topic: ResolvedBridgeTopic): string {
  return topic.remotePrefix + topic.pattern;
}

/** The remote topic of a local one matching {@link localFilter}. */
export function toRemote(topic: ResolvedBridgeTopic, local: string): string {
  return topic.remotePrefix + local.slice(topic.localPrefix.length);
}

/** The local topic of a remote one matching {@link remoteFilter}. */
export function toLocal(topic: ResolvedBridgeTopic, remote: string): string {
  return topic.localPrefix + remote.slice(topic.remotePrefix.length);
}

/** The first incoming pattern a remote topic matches: the remote sends one copy for them all. */
export function incomingFor(
  topics: readonly ResolvedBridgeTopic[],
  remote: string,
): ResolvedBridgeTopic | undefined {
  return topics.find((t) => t.direction !== "out" && topicMatches(remoteFilter(t), remote));
}
