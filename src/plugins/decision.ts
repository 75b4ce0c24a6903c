/**
 * Plugin answers made into decisions for the broker to send. Plain answers become shared frozen
 * decisions, so the hot path allocates nothing; answers with details are checked (a reason code
 * the answering packet may carry, strings the broker can send), and what fails a check is logged
 * once per plugin and hook and replaced by the default.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { PacketType } from "../protocol/packets.ts";
import { reasonAllowed, ReasonCode, reasonName } from "../protocol/reason.ts";
import { isAnonymous } from "./builtin/common.ts";
import type { Decision, TopicAction } from "./types.ts";

/** The acceptance every plain `true` (or `{ allow: true }`) becomes. */
export const ALLOW: Decision = Object.freeze({ allow: true, reasonCode: ReasonCode.SUCCESS });
/** The refusal of a topic, or of a client without a user name: 0x87 not authorized. */
export const NOT_AUTHORIZED: Decision = Object.freeze({
  allow: false,
  reasonCode: ReasonCode.NOT_AUTHORIZED,
});
/** The refusal of a client with a user name: 0x86 bad user name or password. */
export const BAD_CREDENTIALS: Decision = Object.freeze({
  allow: false,
  reasonCode: ReasonCode.BAD_USER_NAME_OR_PASSWORD,
});

/** What an `authenticate` hook's plain `false` means for a client with this user name. */
export function authDenial(username: string | undefined): Decision {
  return isAnonymous(username) ? NOT_AUTHORIZED : BAD_CREDENTIALS;
}

/** Which reason codes a refusal may carry: those of the packet that answers it. */
export interface RefusalRules {
  /** The packet, for log lines. */
  readonly packet: string;
  /** Whether `code` is a refusal (0x80 or more) that packet may carry. */
  allows(code: number): boolean;
  /** Whether a redirection (0x9C, 0x9D with a server reference) is possible. */
  readonly redirects: boolean;
}

function refusalsOf(packet: string, ...types: number[]): RefusalRules {
  return {
    packet,
    allows: (code) => code >= 0x80 && types.some((type) => reasonAllowed(type, code)),
    redirects: types.includes(PacketType.CONNACK) || types.includes(PacketType.DISCONNECT),
  };
}

/** Refusing a connecting client. */
export const CONNACK_REFUSAL: RefusalRules = refusalsOf("CONNACK", PacketType.CONNACK);
/** Refusing a connected client, after a failed re-authentication. */
export const DISCONNECT_REFUSAL: RefusalRules = refusalsOf("DISCONNECT", PacketType.DISCONNECT);
const TOPIC_REFUSALS: Readonly<Record<TopicAction, RefusalRules>> = {
  subscribe: refusalsOf("SUBACK", PacketType.SUBACK),
  publish: refusalsOf("PUBACK", PacketType.PUBACK),
  // A refused delivery sends nothing; the code only reaches the log.
  receive: refusalsOf("SUBACK or PUBACK", PacketType.SUBACK, PacketType.PUBACK),
};

/** Refusing a topic for `action`. */
export function topicRefusal(action: TopicAction): RefusalRules {
  return TOPIC_REFUSALS[action];
}

const MAX_STRING_BYTES = 0xffff;
const encoder = new TextEncoder();

/** Why `value` cannot be sent as an MQTT UTF-8 string, or undefined when it can. */
export function sendableStringProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return `is a ${typeof value}, not a string`;
  if (value.includes("\0")) return "contains U+0000";
  if (/\p{Cs}/u.test(value)) return "contains a lone surrogate";
  // Three bytes per UTF-16 unit at most: only long strings need encoding to be measured.
  if (value.length * 3 > MAX_STRING_BYTES && encoder.encode(value).length > MAX_STRING_BYTES) {
    return `is longer than ${MAX_STRING_BYTES} bytes`;
  }
  return undefined;
}

function hex(code: number): string {
  return `0x${code.toString(16).padStart(2, "0").toUpperCase()}`;
}

function describeCode(code: unknown): string {
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code <= 0xff
    ? `${hex(code)} (${reasonName(code)})`
    : JSON.stringify(code) ?? String(code);
}

/** The details of a refusal as a plugin gave them, unchecked. */
export interface RefusalFields {
  readonly reasonCode?: unknown;
  readonly reasonString?: unknown;
  readonly serverReference?: unknown;
}

/** Reads plugin answers, logging each plugin's first bad answer per hook. */
export class VerdictReader {
  readonly #logger: Logger;
  readonly #warned = new Set<string>();

  /** Problems go to `logger`. */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * Logs `problem` with `plugin`'s `hook`, the first time that hook has one: a hook asked per
   * packet must not flood the log.
   */
  complain(plugin: string, hook: string, problem: string): void {
    const key = `${plugin}\0${hook}`;
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(`plugin ${plugin}: ${hook} ${problem} (logged once per plugin and hook)`);
  }

  /**
   * The decision a hook's answer stands for, or undefined when it abstains (anything but a
   * boolean or an object). `true` and `{ allow: true }` are {@link ALLOW}, `false` is `deny`,
   * `{ allow: false, ... }` a checked {@link VerdictReader.refusal}; an object without a boolean
   * `allow` is a mistake, logged and counted as `deny`.
   */
  read(
    plugin: string,
    hook: string,
    answer: unknown,
    deny: Decision,
    rules: RefusalRules,
  ): Decision | undefined {
    if (answer === true) return ALLOW;
    if (answer === false) return deny;
    if (typeof answer !== "object" || answer === null) return undefined;
    const allow = (answer as { allow?: unknown }).allow;
    if (allow === true) return ALLOW;
    if (allow !== false) {
      this.complain(plugin, hook, "answered an object without allow: true or false, a deny");
      return deny;
    }
    return this.refusal(plugin, hook, answer, deny, rules);
  }

  /**
   * A refusal with the plugin's reason code, reason string and server reference, each kept only
   * if it passes its check (a code `rules` allows, sendable strings, a server reference only with
   * 0x9C or 0x9D where `rules` redirect); `deny` gives the code otherwise, and is itself the
   * answer when nothing is kept.
   */
  refusal(
    plugin: string,
    hook: string,
    fields: RefusalFields,
    deny: Decision,
    rules: RefusalRules,
  ): Decision {
    const { reasonCode: code, reasonString, serverReference } = fields;
    let reasonCode = deny.reasonCode;
    if (code !== undefined) {
      if (typeof code === "number" && rules.allows(code)) {
        reasonCode = code;
      } else {
        this.complain(
          plugin,
          hook,
          `answered reason code ${describeCode(code)}, which is no ${rules.packet} refusal; ` +
            `sent ${describeCode(reasonCode)} instead`,
        );
      }
    }
    const keepString = reasonString !== undefined &&
      this.#sendable(plugin, hook, "reasonString", reasonString);
    let keepReference = false;
    if (serverReference !== undefined) {
      const redirect = reasonCode === ReasonCode.USE_ANOTHER_SERVER ||
        reasonCode === ReasonCode.SERVER_MOVED;
      if (rules.redirects && redirect) {
        keepReference = this.#sendable(plugin, hook, "serverReference", serverReference);
      } else {
        this.complain(
          plugin,
          hook,
          `answered a serverReference with ${describeCode(reasonCode)}; only 0x9C and 0x9D ` +
            "refusals of a client carry one, so it was left out",
        );
      }
    }
    if (reasonCode === deny.reasonCode && !keepString && !keepReference) return deny;
    return {
      allow: false,
      reasonCode,
      ...(keepString ? { reasonString: reasonString as string } : {}),
      ...(keepReference ? { serverReference: serverReference as string } : {}),
    };
  }

  #sendable(plugin: string, hook: string, name: string, value: unknown): boolean {
    const problem = sendableStringProblem(value);
    if (problem !== undefined) {
      this.complain(plugin, hook, `answered a ${name} that ${problem}; left out`);
    }
    return problem === undefined;
  }
}
