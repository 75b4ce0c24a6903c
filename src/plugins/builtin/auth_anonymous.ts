/**
 * `auth_anonymous`: lets clients without a user name in, or not, by `auth.allow-anonymous`.
 * Clients with a user name are left to the other plugins.
 *
 * @module
 */
import type { ResolvedConfig } from "../../config/types.ts";
import type { Plugin } from "../types.ts";
import { isAnonymous } from "./common.ts";

/** Makes the `auth_anonymous` plugin. */
export function authAnonymous(config: ResolvedConfig): Plugin {
  const allow = config.auth.allowAnonymous;
  return {
    name: "auth_anonymous",
    authenticate(request) {
      return isAnonymous(request.username) ? allow : undefined;
    },
  };
}
