/**
 * The SCRAM-SHA-256 enhanced authentication of `auth_file`: one {@link ScramServer} per
 * exchange, over the password file's SCRAM entries.
 *
 * @module
 */
import type { Logger } from "../../log.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import {
  parseScramEntry,
  SCRAM_DEFAULT_ITERATIONS,
  SCRAM_ENTRY_PREFIX,
  type ScramFailure,
  type ScramLookup,
  ScramServer,
} from "../password/scram.ts";
import type { AuthExchange, AuthExchangeRequest, AuthStep } from "../types.ts";

/** The MQTT 5 authentication method name of SCRAM-SHA-256. */
export const SCRAM_SHA_256 = "SCRAM-SHA-256";

const EMPTY = new Uint8Array();

/**
 * The iteration count of the commonest SCRAM entry among `hashes` (4096 when there is none):
 * what unknown users are shown, so that they look like known ones.
 */
export function commonestScramIterations(hashes: Iterable<string>): number {
  const counts = new Map<number, number>();
  let commonest = SCRAM_DEFAULT_ITERATIONS;
  let most = 0;
  for (const hash of hashes) {
    if (!hash.startsWith(SCRAM_ENTRY_PREFIX)) continue;
    let iterations: number;
    try {
      iterations = parseScramEntry(hash).iterations;
    } catch {
      continue;
    }
    const count = (counts.get(iterations) ?? 0) + 1;
    counts.set(iterations, count);
    if (count > most) [commonest, most] = [iterations, count];
  }
  return commonest;
}

/** What {@link scramExchange} needs besides the request. */
export interface ScramExchangeOptions {
  /** Finds a user's password file entry; anything but a SCRAM entry is an unknown user. */
  readonly lookup: ScramLookup;
  /** Shown to unknown users, see {@link commonestScramIterations}. */
  readonly fakeIterations: number;
  /** Gets why an exchange failed (it tells an unknown user from a wrong password). */
  readonly logger?: Logger;
}

/**
 * An exchange of RFC 5802 without channel binding: the first step takes the client-first message
 * and continues with the server-first one, the second takes the client-final message and
 * succeeds with the server-final one (`v=ServerSignature`) as the SCRAM user. A failure is 0x86
 * bad user name or password (0x87 in a re-authentication, which DISCONNECT carries), with the
 * RFC's `server-error-value` as reason string, the same for an unknown user as for a wrong
 * password. The plugin manager refuses a SCRAM user other than the CONNECT's user name.
 */
export function scramExchange(
  request: AuthExchangeRequest,
  options: ScramExchangeOptions,
): AuthExchange {
  const server = new ScramServer({ fakeIterations: options.fakeIterations });
  const code = request.reauthenticate
    ? ReasonCode.NOT_AUTHORIZED
    : ReasonCode.BAD_USER_NAME_OR_PASSWORD;
  const failed = (failure: ScramFailure): AuthStep => {
    options.logger?.info(
      `${SCRAM_SHA_256} failed for client ${JSON.stringify(request.clientId)}: ${failure.detail}`,
    );
    return { fail: code, reasonString: `${SCRAM_SHA_256}: ${failure.fail}` };
  };
  let started = false;
  return {
    step(data) {
      if (!started) {
        started = true;
        return server.start(data ?? EMPTY, options.lookup).then((result) =>
          "fail" in result ? failed(result) : { continue: result.continue }
        );
      }
      const result = server.finish(data ?? EMPTY);
      return "fail" in result ? failed(result) : {
        success: result.success,
        username: result.username,
      };
    },
  };
}
