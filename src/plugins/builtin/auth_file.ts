/**
 * `auth_file`: checks user name and password against `auth.password-file` (the format of
 * `mosquitto_passwd`, see `../password/`). Clients without a user name are left to
 * `auth_anonymous`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { ResolvedConfig } from "../../config/types.ts";
import type { Logger } from "../../log.ts";
import type { Plugin } from "../types.ts";
import { hashPassword, parsePasswordFile, verifyPassword } from "../password/mod.ts";
import { isAnonymous } from "./common.ts";

/** The `auth_file` plugin: a {@link Plugin} whose `reload` re-reads the password file. */
export interface AuthFilePlugin extends Plugin {
  readonly name: "auth_file";
  /** Re-reads the password file; on error it rejects and the users loaded before stay. */
  reload(): Promise<void>;
  /** How many users are loaded. */
  readonly size: number;
}

/**
 * Verified against when the user is unknown, so that an unknown user costs about as much time as
 * a wrong password and user names cannot be probed by timing.
 */
let dummyHash: string | undefined;

/** Makes the `auth_file` plugin; the file is read in `setup`. */
export function authFile(config: ResolvedConfig): AuthFilePlugin {
  const path = config.auth.passwordFile;
  let users = new Map<string, string>();
  let logger: Logger | undefined;

  async function load(): Promise<void> {
    if (path === undefined) {
      throw new Error("auth_file needs auth.password-file: set it, or remove auth_file");
    }
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      throw new Error(`cannot read password file ${path}: ${(e as Error).message}`, { cause: e });
    }
    users = parsePasswordFile(text, path);
    logger?.info(`${users.size} users loaded from ${path}`);
  }

  return {
    name: "auth_file",
    get size() {
      return users.size;
    },
    async setup(context) {
      logger = context.logger;
      await load();
    },
    reload: load,
    authenticate(request) {
      if (isAnonymous(request.username)) return undefined;
      const hash = users.get(request.username);
      const password = request.password ?? new Uint8Array();
      if (hash === undefined) {
        dummyHash ??= hashPassword("");
        verifyPassword(password, dummyHash);
        return false;
      }
      return request.password !== undefined && verifyPassword(password, hash);
    },
  };
}
