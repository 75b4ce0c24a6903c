/**
 * Authenticating a CONNECT: what the plugins are told of it, the refusing CONNACK (with the
 * plugin's reason string and server reference for 5.0), and the enhanced authentication exchange
 * (MQTT 5 §4.12) of AUTH packets that stands between a CONNECT naming a method and its CONNACK.
 *
 * @module
 */
import type { ConnectPacket } from "../protocol/packets.ts";
import type { Properties } from "../protocol/properties.ts";
import { ReasonCode, reasonName } from "../protocol/reason.ts";
import type { AuthExchangeHandle } from "../plugins/exchange.ts";
import type {
  AuthFailure,
  AuthRequest,
  AuthStep,
  AuthSuccess,
  ClientInfo,
  ConnectProperties,
} from "../plugins/types.ts";
import { isThenable } from "../plugins/deadline.ts";
import type { Client } from "./client.ts";

/** The CONNECT properties plugins see, by the codec's names. */
const CONNECT_PROPERTIES = [
  "userProperties",
  "authenticationMethod",
  "authenticationData",
  "sessionExpiryInterval",
  "receiveMaximum",
  "maximumPacketSize",
  "topicAliasMaximum",
  "requestResponseInformation",
  "requestProblemInformation",
] as const satisfies readonly (keyof ConnectProperties & keyof Properties)[];

/**
 * What authentication plugins see of a connecting client: `info`, the password and, from a 5.0
 * client, the CONNECT properties it sent (user properties in order).
 */
export function authRequest(info: ClientInfo, packet: ConnectPacket): AuthRequest {
  const request: Record<string, unknown> = { ...info, password: packet.password };
  const p = packet.properties;
  if (p !== undefined && info.protocolVersion === 5) {
    for (const name of CONNECT_PROPERTIES) if (p[name] !== undefined) request[name] = p[name];
  }
  return request as unknown as AuthRequest;
}

/** What a refusal tells a 5.0 client besides its reason code. */
export interface RefusalDetails {
  readonly reasonString?: string;
  readonly serverReference?: string;
}

/** Who a CONNECT says it is, for the log line of its refusal. */
function describeConnect(client: Client, packet: ConnectPacket): string {
  const { hostname, port } = client.conn.remoteAddr;
  const user = packet.username ? `user ${JSON.stringify(packet.username)}` : "no user name";
  const id = packet.clientId ? `client id ${JSON.stringify(packet.clientId)}` : "no client id";
  return `CONNECT (${user}, ${id}) on listener ${client.listener} from ${hostname}:${port}`;
}

/**
 * Answers `packet` with CONNACK `code` (3.1.1: the nearest return code, if any), logs why, and
 * closes. A 5.0 client also gets the reason string, unless it asked for no problem information,
 * and the server reference of a redirection.
 */
export function refuseConnect(
  client: Client,
  packet: ConnectPacket,
  code: number,
  why: string,
  details: RefusalDetails = {},
): void {
  const properties = { serverReference: details.serverReference };
  const connack = client.codec.connack(code, false, properties, details.reasonString);
  const refused = client.broker.stats.connectsRefused;
  const reason = reasonName(code).replaceAll(" ", "_");
  refused[reason] = (refused[reason] ?? 0) + 1;
  if (connack) client.send(connack);
  client.broker.logger.info(
    `refused ${describeConnect(client, packet)}: ${why} (${reasonName(code)})`,
  );
  client.close("refused");
}

/** An exchange's last step: its success, or its failure. */
export type AuthEnd = AuthSuccess | AuthFailure;

/**
 * An enhanced authentication exchange running on a connection, for its CONNECT or a
 * re-authentication: it passes the client's authentication data to the plugin's exchange, sends
 * AUTH 0x18 for each continue and hands the end to `ended`.
 */
export class Authentication {
  /** When it began: the whole exchange must end within `connect-timeout`. */
  readonly startedAt: number = Date.now();
  readonly #client: Client;
  readonly #handle: AuthExchangeHandle;
  readonly #ended: (end: AuthEnd) => void;

  /**
   * Runs `handle` on `client`, which holds it in `client.authentication` until it ends;
   * `connect` is the CONNECT it authenticates, undefined for a re-authentication.
   */
  constructor(
    client: Client,
    handle: AuthExchangeHandle,
    readonly connect: ConnectPacket | undefined,
    ended: (end: AuthEnd) => void,
  ) {
    this.#client = client;
    this.#handle = handle;
    this.#ended = ended;
    client.authentication = this;
  }

  /** The authentication method, which every AUTH of the exchange must name. */
  get method(): string {
    return this.#handle.method;
  }

  /** Answers the client's authentication data; a promise while the plugin is thinking. */
  step(data: Uint8Array | undefined): void | Promise<void> {
    const answer = this.#handle.step(data);
    if (isThenable(answer)) return Promise.resolve(answer).then(this.#answered);
    this.#answered(answer);
  }

  /** The connection went away first. */
  abort(): void {
    this.#handle.abort();
  }

  #answered = (step: AuthStep): void => {
    const client = this.#client;
    if (client.closed || client.authentication !== this) return;
    if ("continue" in step) {
      const properties = { authenticationMethod: this.method, authenticationData: step.continue };
      client.send(client.codec.auth(ReasonCode.CONTINUE_AUTHENTICATION, properties));
      return;
    }
    client.authentication = undefined;
    this.#ended(step);
  };
}

/**
 * Authenticates a CONNECT that names `method` by an exchange of AUTH packets; no plugin for the
 * method is CONNACK 0x8C. On success `admit` gets the user name the exchange authenticated (the
 * session is that user's) and the CONNACK properties that end the exchange.
 */
export function authenticateConnect(
  client: Client,
  packet: ConnectPacket,
  request: AuthRequest,
  method: string,
  admit: (username: string | undefined, connack: Properties) => void,
): void | Promise<void> {
  const handle = client.broker.hooks.startAuthExchange(method, request);
  if (handle === undefined) {
    return refuseConnect(
      client,
      packet,
      ReasonCode.BAD_AUTHENTICATION_METHOD,
      `authentication method ${JSON.stringify(method)} not offered`,
    );
  }
  const exchange = new Authentication(client, handle, packet, (end) => {
    if ("fail" in end) {
      return refuseConnect(client, packet, end.fail, `${method} authentication failed`, end);
    }
    client.authMethod = method;
    admit(end.username, { authenticationMethod: method, authenticationData: end.success });
  });
  return exchange.step(packet.properties?.authenticationData);
}
