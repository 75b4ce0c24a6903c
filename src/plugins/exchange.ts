/**
 * A plugin's enhanced authentication exchange as the broker drives it: every answer is bounded
 * by the hook timeout and checked, anything wrong ends the exchange as a failure, and a success
 * names the user the client is to be.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { ReasonCode } from "../protocol/reason.ts";
import { isAnonymous } from "./builtin/common.ts";
import { type Deadlines, describe, isThenable } from "./deadline.ts";
import {
  CONNACK_REFUSAL,
  DISCONNECT_REFUSAL,
  NOT_AUTHORIZED,
  type RefusalRules,
  type VerdictReader,
} from "./decision.ts";
import type {
  AuthExchange,
  AuthExchangeRequest,
  AuthFailure,
  AuthStep,
  Decision,
  Plugin,
} from "./types.ts";

/**
 * The failure of an exchange whose plugin threw, rejected, timed out, answered something that
 * is no step, or that was driven wrongly: 0x87 not authorized, as for a refusal, so that a
 * client learns nothing from having made the plugin fail; CONNACK and DISCONNECT both carry it.
 */
export const EXCHANGE_FAILED: AuthFailure = Object.freeze({ fail: ReasonCode.NOT_AUTHORIZED });

const MAX_DATA_BYTES = 0xffff;
const STEP_KINDS = ["continue", "success", "fail"] as const;
type StepKind = typeof STEP_KINDS[number];
const NOT_A_STEP = "answered something that is not exactly one of continue, success or fail";

/** What the broker holds of a running exchange (from `PluginManager.startAuthExchange`). */
export interface AuthExchangeHandle {
  /** The plugin that runs it, for log lines. */
  readonly plugin: string;
  readonly method: string;
  /**
   * Answers the client's authentication data: first that of the CONNECT (or the AUTH 0x19) that
   * opened the exchange, then that of each AUTH 0x18. Synchronous when the plugin answered so.
   * A success carries the user name the client is to have; a failure a reason code that CONNACK
   * (or, for a re-authentication, DISCONNECT) may carry. Once it has succeeded or failed, or
   * when called while the previous step is still pending (which also ends it), it fails with
   * {@link EXCHANGE_FAILED} without asking the plugin.
   */
  step(data: Uint8Array | undefined): AuthStep | Promise<AuthStep>;
  /**
   * Ends the exchange early; calls the plugin's `abort` once. A step still pending then resolves
   * as {@link EXCHANGE_FAILED}. Safe to call at any time. The broker must call it when the
   * connection goes away mid-exchange: the manager holds each exchange until it ends.
   */
  abort(): void;
}

function failureOf(decision: Decision): AuthFailure {
  if (decision.reasonString === undefined && decision.serverReference === undefined) {
    return decision.reasonCode === EXCHANGE_FAILED.fail
      ? EXCHANGE_FAILED
      : { fail: decision.reasonCode };
  }
  return {
    fail: decision.reasonCode,
    ...(decision.reasonString === undefined ? {} : { reasonString: decision.reasonString }),
    ...(decision.serverReference === undefined
      ? {}
      : { serverReference: decision.serverReference }),
  };
}

function dataProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array)) return "is no Uint8Array";
  return value.length > MAX_DATA_BYTES ? `is longer than ${MAX_DATA_BYTES} bytes` : undefined;
}

/** What the manager gives an exchange to work with. */
export interface ExchangeServices {
  readonly logger: Logger;
  readonly deadlines: Deadlines;
  readonly verdicts: VerdictReader;
  /** Called once when the exchange ends, however it ends. */
  readonly ended: (exchange: ManagedExchange) => void;
}

/** An {@link AuthExchangeHandle} over the exchange a plugin's `startAuth` opens. */
export class ManagedExchange implements AuthExchangeHandle {
  readonly plugin: string;
  readonly method: string;
  readonly #request: AuthExchangeRequest;
  readonly #services: ExchangeServices;
  readonly #rules: RefusalRules;
  /** The plugin's exchange; a promise until `startAuth` has answered; undefined if it failed. */
  #exchange: AuthExchange | PromiseLike<AuthExchange | undefined> | undefined;
  #busy = false;
  #over = false;

  /** Opens the exchange: calls `plugin.startAuth` (a throw fails the first step). */
  constructor(plugin: Plugin, request: AuthExchangeRequest, services: ExchangeServices) {
    this.plugin = plugin.name;
    this.method = request.method;
    this.#request = request;
    this.#services = services;
    this.#rules = request.reauthenticate ? DISCONNECT_REFUSAL : CONNACK_REFUSAL;
    try {
      const opened = plugin.startAuth!(request);
      this.#exchange = isThenable(opened)
        ? services.deadlines.bound<AuthExchange | undefined>(
          opened,
          undefined,
          `plugin ${this.plugin}: startAuth`,
        ).then((exchange) => {
          this.#exchange = exchange;
          // Aborted while the plugin was still opening it.
          if (this.#over) this.#abortPlugin(exchange);
          return exchange;
        })
        : opened;
    } catch (e) {
      services.logger.error(
        `plugin ${this.plugin}: startAuth threw, counted as a deny: ${describe(e)}`,
      );
      this.#exchange = undefined;
    }
  }

  step(data: Uint8Array | undefined): AuthStep | Promise<AuthStep> {
    if (this.#over) return EXCHANGE_FAILED;
    if (this.#busy) {
      this.#services.logger.warn(
        `plugin ${this.plugin}: ${this.method} step asked while the previous one is pending; ` +
          "the exchange fails",
      );
      this.abort();
      return EXCHANGE_FAILED;
    }
    const exchange = this.#exchange;
    if (!isThenable(exchange)) return this.#ask(exchange, data);
    this.#busy = true;
    return Promise.resolve(exchange).then((opened) => {
      this.#busy = false;
      return this.#over ? EXCHANGE_FAILED : this.#ask(opened, data);
    });
  }

  abort(): void {
    if (this.#over) return;
    this.#end();
    // One still opening is aborted once the plugin has opened it (see the constructor).
    if (!isThenable(this.#exchange)) this.#abortPlugin(this.#exchange);
  }

  #abortPlugin(exchange: AuthExchange | undefined): void {
    try {
      exchange?.abort?.();
    } catch (e) {
      this.#services.logger.error(`plugin ${this.plugin}: abort threw: ${describe(e)}`);
    }
  }

  #ask(
    exchange: AuthExchange | undefined,
    data: Uint8Array | undefined,
  ): AuthStep | Promise<AuthStep> {
    if (exchange === undefined) return this.#fail();
    let answer: AuthStep | Promise<AuthStep>;
    try {
      answer = exchange.step(data);
    } catch (e) {
      this.#services.logger.error(
        `plugin ${this.plugin}: ${this.method} step threw, counted as a deny: ${describe(e)}`,
      );
      return this.#fail();
    }
    if (!isThenable(answer)) return this.#read(answer);
    this.#busy = true;
    return this.#services.deadlines.bound<AuthStep>(
      answer,
      EXCHANGE_FAILED,
      `plugin ${this.plugin}: ${this.method} step`,
    ).then((step) => {
      this.#busy = false;
      return this.#over ? EXCHANGE_FAILED : this.#read(step);
    });
  }

  /** The plugin's answer, checked; anything but a continue ends the exchange. */
  #read(answer: unknown): AuthStep {
    if (typeof answer !== "object" || answer === null) return this.#fail(NOT_A_STEP);
    const step = answer as Partial<Record<StepKind, unknown>>;
    const kinds = STEP_KINDS.filter((k) => k in step);
    if (kinds.length !== 1) return this.#fail(NOT_A_STEP);
    const [kind] = kinds;
    if (kind === "fail") {
      const fields = answer as AuthFailure;
      const deny = this.#services.verdicts.refusal(
        this.plugin,
        `${this.method} step`,
        { ...fields, reasonCode: fields.fail },
        NOT_AUTHORIZED,
        this.#rules,
      );
      this.#end();
      return failureOf(deny);
    }
    const problem = dataProblem(step[kind]);
    if (problem !== undefined) return this.#fail(`answered ${kind} data that ${problem}`);
    if (kind === "continue") return answer as AuthStep;
    return this.#success(
      step.success as Uint8Array | undefined,
      (answer as { username?: unknown }).username,
    );
  }

  /**
   * The success with the user name the client is to have: the exchange's, else the one the
   * client gave. They must agree, and a re-authentication must keep the connection's user name:
   * a session belongs to one user name.
   */
  #success(data: Uint8Array | undefined, named: unknown): AuthStep {
    if (named !== undefined && (typeof named !== "string" || named === "")) {
      return this.#fail("answered a success with a username that is not a non-empty string");
    }
    const request = this.#request;
    const given = isAnonymous(request.username) ? undefined : request.username;
    const username = named ?? given;
    const mismatch = request.reauthenticate
      ? username !== given
      : given !== undefined && username !== given;
    if (mismatch) {
      this.#services.logger.info(
        `plugin ${this.plugin}: ${this.method} authenticated ${JSON.stringify(named)}, but the ` +
          `client is ${
            given === undefined ? "without a user name" : JSON.stringify(given)
          }: refused`,
      );
      this.#end();
      return request.reauthenticate
        ? EXCHANGE_FAILED
        : { fail: ReasonCode.BAD_USER_NAME_OR_PASSWORD };
    }
    this.#end();
    return username === undefined ? { success: data } : { success: data, username };
  }

  #fail(problem?: string): AuthFailure {
    if (problem !== undefined) {
      this.#services.verdicts.complain(this.plugin, `${this.method} step`, `${problem}; failed`);
    }
    this.#end();
    return EXCHANGE_FAILED;
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#services.ended(this);
  }
}
