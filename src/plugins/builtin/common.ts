/**
 * What the built-in plugins share.
 *
 * @module
 */

/**
 * Whether a client counts as anonymous: no user name, or an empty one (MQTT allows a zero-length
 * user name, and letting it pass as a real user would let it dodge `allow-anonymous`).
 */
export function isAnonymous(username: string | undefined): username is undefined | "" {
  return username === undefined || username === "";
}
