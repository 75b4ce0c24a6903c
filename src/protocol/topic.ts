/**
 * Topic names and topic filters: validation per the standard, and matching level by level.
 *
 * @module
 */

/**
 * Most levels a topic name or filter may have. Matching walks one level per call, so a topic of
 * tens of thousands of levels (a 64 KiB string of slashes) would exhaust the stack mid-routing;
 * and every level of a filter is a trie node. Mosquitto stops at 200; real topics stay far below.
 */
export const MAX_TOPIC_LEVELS = 1024;

/** Whether `topic` has more than {@link MAX_TOPIC_LEVELS} levels. */
export function tooManyLevels(topic: string): boolean {
  if (topic.length < MAX_TOPIC_LEVELS) return false;
  let slashes = 0;
  for (let i = topic.indexOf("/"); i !== -1; i = topic.indexOf("/", i + 1)) {
    if (++slashes >= MAX_TOPIC_LEVELS) return true;
  }
  return false;
}

/** Why a topic name is invalid, or undefined when it is valid. */
export function topicNameError(topic: string): string | undefined {
  if (topic.length === 0) return "topic name is empty";
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) return "topic name contains a wildcard";
    if (c === 0) return "topic name contains U+0000";
  }
  if (tooManyLevels(topic)) return `topic name has more than ${MAX_TOPIC_LEVELS} levels`;
  return undefined;
}

/** Why a topic filter is invalid, or undefined when it is valid. */
export function topicFilterError(filter: string): string | undefined {
  if (filter.length === 0) return "topic filter is empty";
  if (tooManyLevels(filter)) return `topic filter has more than ${MAX_TOPIC_LEVELS} levels`;
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes("\u0000")) return "topic filter contains U+0000";
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return "'#' must be the last level and alone in it";
    }
    if (level.includes("+") && level !== "+") return "'+' must be alone in its level";
  }
  return undefined;
}

/**
 * Whether `filter` (valid) matches `topic` (valid). Wildcards in the first level do not match
 * topics that start with `$`; `a/#` matches `a`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Whether every topic that `inner` matches is also matched by `outer` (both valid filters):
 * `calendar/#` covers `calendar/+/x`, but not `#`.
 */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split("/");
  const n = inner.split("/");
  if (inner.startsWith("$") && (o[0] === "+" || o[0] === "#")) return false;
  for (let i = 0; i < o.length; i++) {
    if (o[i] === "#") return true;
    if (i >= n.length) return false;
    if (n[i] === "#") return false;
    if (o[i] !== "+" && (n[i] === "+" || o[i] !== n[i])) return false;
  }
  return o.length === n.length;
}

/** The parts of a shared subscription's filter, `$share/{group}/{filter}` (MQTT 5.0 4.8.2). */
export interface SharedFilter {
  /** The share name. */
  readonly group: string;
  /** The topic filter inside, the one that matches topics. */
  readonly filter: string;
}

const SHARE_PREFIX = "$share/";

/**
 * The share name and inner filter of a `$share/` filter, or undefined for any other filter;
 * `filter` must be valid (see {@link topicFilterError}).
 */
export function sharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  if (slash === -1) return undefined;
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/**
 * Why a topic filter of SUBSCRIBE or UNSUBSCRIBE is invalid, or undefined: the checks of
 * {@link topicFilterError}, and for `$share/` filters those of MQTT 5.0 4.8.2 (a share name of
 * at least one character without `/`, `+` or `#`, then `/` and a topic filter).
 */
export function subscriptionFilterError(filter: string): string | undefined {
  const error = topicFilterError(filter);
  if (error || !filter.startsWith(SHARE_PREFIX)) return error;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  if (slash === -1) return "a shared subscription needs a topic filter after its share name";
  const group = filter.slice(SHARE_PREFIX.length, slash);
  if (group.length === 0) return "the share name is empty";
  if (group.includes("+") || group.includes("#")) return "the share name contains a wildcard";
  if (slash + 1 === filter.length) return "a shared subscription needs a topic filter";
  return undefined;
}
