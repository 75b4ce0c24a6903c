/**
 * `auth_file`: checks user name and password against `auth.password-file` (the format of
 * `mosquitto_passwd`, see `../password/`). Clients without a user name are left to
 * `auth_anonymous`. The hashing runs in a pool of worker threads, one per core, so the event
 * loop stays free for other clients; at most 1,024 checks are pending (`MAX_PENDING_CHECKS`),
 * and beyond that a client is refused at once.
 *
 * It also handles the MQTT 5 enhanced authentication method `SCRAM-SHA-256` against the file's
 * `$scram-sha-256$` entries (see `scram_exchange.ts`), so one plugin and one file serve both ways
 * of logging in. Those exchanges cost the server a few HMACs (the client does the PBKDF2), so
 * they need no queue.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { ResolvedConfig } from "../../config/types.ts";
import type { Logger } from "../../log.ts";
import type { Plugin, VerdictDetails } from "../types.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import {
  decoyHash,
  hashPassword,
  hashShape,
  type HashVerifier,
  hashVerifier,
  parsePasswordFile,
} from "../password/mod.ts";
import { HashPool } from "../password/pool.ts";
import { CheckQueue, MAX_PENDING_CHECKS } from "../password/queue.ts";
import { isAnonymous } from "./common.ts";
import { commonestScramIterations, SCRAM_SHA_256, scramExchange } from "./scram_exchange.ts";

/** The `auth_file` plugin: a {@link Plugin} whose `reload` re-reads the password file. */
/**
 * The answer while too many checks are pending: the broker is busy, not the password wrong (a
 * 3.1.1 client gets CONNACK 3, server unavailable, which clients treat as worth a retry).
 */
const BUSY: VerdictDetails = Object.freeze({
  allow: false,
  reasonCode: ReasonCode.SERVER_BUSY,
  reasonString: "too many password checks pending; try again",
});

export interface AuthFilePlugin extends Plugin {
  readonly name: "auth_file";
  /** Re-reads the password file; on error it rejects and the users loaded before stay. */
  reload(): Promise<void>;
  /** How many users are loaded. */
  readonly size: number;
}

/**
 * A hash no password matches, shaped like the file's commonest entry (like what `broker passwd`
 * writes when the file is empty): unknown users are checked against it, so they cost what known
 * users cost. The admin login of the HTTP listener uses it too.
 */
export function decoyFor(users: ReadonlyMap<string, string>): string {
  const shapes = new Map<string | undefined, { hash: string; count: number }>();
  let commonest: { hash: string; count: number } | undefined;
  for (const hash of users.values()) {
    const shape = hashShape(hash);
    const entry = shapes.get(shape) ?? { hash, count: 0 };
    entry.count++;
    shapes.set(shape, entry);
    if (entry.count > (commonest?.count ?? 0)) commonest = entry;
  }
  return decoyHash(commonest?.hash ?? hashPassword(""));
}

/** Makes the `auth_file` plugin; the file is read in `setup`. */
export function authFile(config: ResolvedConfig): AuthFilePlugin {
  const path = config.auth.passwordFile;
  let users = new Map<string, string>();
  /** Each user's hash, parsed when the file is loaded rather than at each login. */
  let verifiers = new Map<string, HashVerifier>();
  let decoy = hashVerifier(decoyFor(users));
  let scramIterations = commonestScramIterations(users.values());
  let logger: Logger | undefined;
  const pool = new HashPool();
  const checks = new CheckQueue(MAX_PENDING_CHECKS, pool.capacity);
  let warnedFull = false;

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
    const loaded = parsePasswordFile(text, path);
    verifiers = new Map([...loaded].map(([user, hash]) => [user, hashVerifier(hash)]));
    users = loaded;
    decoy = hashVerifier(decoyFor(users));
    scramIterations = commonestScramIterations(users.values());
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
    async teardown() {
      checks.close();
      await pool.close();
    },
    authMethods: [SCRAM_SHA_256],
    startAuth(request) {
      return scramExchange(request, {
        lookup: (name) => users.get(name),
        fakeIterations: scramIterations,
        logger,
      });
    },
    authenticate(request) {
      if (isAnonymous(request.username)) return undefined;
      const verify = verifiers.get(request.username);
      const password = request.password;
      // An unknown user, or a known one without a password, costs one check like any other, so
      // that timing does not tell which user names exist.
      const check = checks.add(() => (verify ?? decoy)(password ?? new Uint8Array(), pool));
      if (check === undefined) {
        if (!warnedFull) {
          logger?.warn(
            `${checks.limit} password checks are pending: refusing user names at once ` +
              "until they are done",
          );
          warnedFull = true;
        }
        return BUSY;
      }
      return check.then((ok) => {
        if (checks.pending === 0) warnedFull = false;
        return ok && verify !== undefined && password !== undefined;
      });
    },
  };
}
