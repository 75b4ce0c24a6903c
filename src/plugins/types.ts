/**
 * The plugin API: a plugin is a plain object with a name and the hooks it cares about.
 *
 * @module
 */
import type { RemoteAddr } from "../runtime/types.ts";
import type { ResolvedConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";

/** What plugins and event listeners are told about a client. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username?: string;
  readonly remoteAddr: RemoteAddr;
  /** Name of the listener the client connected to. */
  readonly listener: string;
  readonly cleanSession: boolean;
  /** 3 (MQTT 3.1), 4 (MQTT 3.1.1) or 5. */
  readonly protocolVersion: number;
}

/** An MQTT 5 user property: name and value, as the client sent them. */
export type UserProperty = readonly [name: string, value: string];

/**
 * The MQTT 5 CONNECT properties a plugin may want, by their names in the standard (camelCased,
 * as the codec's `Properties` has them, so the broker can pass those on as they are). Absent
 * for 3.1.1 clients and for what the client did not send.
 */
export interface ConnectProperties {
  /** In the order they came; a name may repeat. */
  readonly userProperties?: readonly UserProperty[];
  readonly authenticationMethod?: string;
  readonly authenticationData?: Uint8Array;
  /** Seconds. */
  readonly sessionExpiryInterval?: number;
  readonly receiveMaximum?: number;
  readonly maximumPacketSize?: number;
  readonly topicAliasMaximum?: number;
  readonly requestResponseInformation?: boolean;
  readonly requestProblemInformation?: boolean;
}

/** What an authentication plugin sees of a connecting client. */
export interface AuthRequest extends ClientInfo, ConnectProperties {
  readonly password?: Uint8Array;
}

/**
 * The MQTT 5 properties of a message that travel with it from publisher to subscribers, by the
 * codec's names. Absent when the publisher spoke 3.1.1 or sent none.
 */
export interface MessageProperties {
  readonly payloadFormatIndicator?: boolean;
  /** Seconds the message stays deliverable, as the publisher sent it. */
  readonly messageExpiryInterval?: number;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Uint8Array;
  /** In the order they came; a name may repeat. */
  readonly userProperties?: readonly UserProperty[];
}

/** A message as the broker routes it. */
export interface Message {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly properties?: MessageProperties;
}

/** Why a client's connection ended. */
export type DisconnectReason =
  | "disconnect"
  | "closed"
  | "error"
  | "keepalive"
  | "takeover"
  | "protocol"
  | "slow"
  | "timeout"
  | "refused"
  | "shutdown"
  | "admin";

/**
 * The MQTT 5 DISCONNECT that ended a connection, when there was one: sent by a 5.0 client, or by
 * the broker to it.
 */
export interface DisconnectDetails {
  /** Its reason code (0x00 normal, 0x04 with will, 0x8E session taken over, ...). */
  readonly reasonCode: number;
  readonly sentBy: "client" | "server";
  readonly reasonString?: string;
}

/** The broker's events, by the seed's names, with their arguments. */
export interface BrokerEvents {
  broker_pre_start: [];
  broker_post_start: [];
  broker_pre_shutdown: [];
  broker_post_shutdown: [];
  broker_client_connected: [client: ClientInfo];
  /** `details` only when an MQTT 5 DISCONNECT packet ended the connection. */
  broker_client_disconnected: [
    client: ClientInfo,
    reason: DisconnectReason,
    details?: DisconnectDetails,
  ];
  broker_client_subscribed: [client: ClientInfo, filter: string, qos: 0 | 1 | 2];
  broker_client_unsubscribed: [client: ClientInfo, filter: string];
  /** `client` is undefined for messages published by the broker itself. */
  broker_message_received: [client: ClientInfo | undefined, message: Message];
}

/** Name of a broker event. */
export type BrokerEventName = keyof BrokerEvents;

/** A listener for one event; it may be async, and its errors are logged, never thrown. */
export type BrokerEventHandler<E extends BrokerEventName> = (
  ...args: BrokerEvents[E]
) => void | Promise<void>;

/** What a topic check is about. */
export type TopicAction = "subscribe" | "publish" | "receive";

/**
 * A hook's answer with what to tell an MQTT 5 client. `allow: true` is `true`; `allow: false` is
 * `false` with the reason code and reason string of the refusal, which an acceptance ignores.
 */
export interface VerdictDetails {
  readonly allow: boolean;
  /**
   * For a refusal: a reason code of 0x80 or more that the packet answering it may carry (for
   * `topicFiltering`, SUBACK's for `subscribe` and PUBACK's for `publish`). Absent, or not
   * such a code (that is logged), it is 0x87 not authorized, or for `authenticate` 0x86 bad user
   * name or password when the client gave a user name.
   */
  readonly reasonCode?: number;
  /** For a refusal: the reason string to send (no U+0000, at most 65535 bytes of UTF-8). */
  readonly reasonString?: string;
}

/**
 * An `authenticate` answer with details: also a redirection, reason code 0x9C (use another
 * server, for now) or 0x9D (server moved, for good) with the server to go to.
 */
export interface AuthVerdictDetails extends VerdictDetails {
  /** With reason code 0x9C or 0x9D: `host`, `host:port` or a list of them (MQTT 5 §4.11). */
  readonly serverReference?: string;
}

/**
 * A hook's answer: `true` accepts, `false` refuses, `undefined` abstains, and a
 * {@link VerdictDetails} accepts or refuses with a reason. A client or topic passes only when at
 * least one asked plugin accepts and none refuses; when all abstain it is refused.
 */
export type Verdict = boolean | undefined | void | VerdictDetails;

/** An `authenticate` answer: a {@link Verdict}, or a refusal that redirects. */
export type AuthVerdict = Verdict | AuthVerdictDetails;

/**
 * What the plugin manager decided, for the broker to send: `reasonCode` is 0x00 for an
 * acceptance and the refusal's code (0x80 or more) otherwise. The plain answers are shared frozen
 * objects, so compare fields, never identity.
 */
export interface Decision {
  readonly allow: boolean;
  readonly reasonCode: number;
  readonly reasonString?: string;
  /** Only with reason code 0x9C or 0x9D, from `authenticate`. */
  readonly serverReference?: string;
}

/**
 * What a plugin's `startAuth` gets: the connecting client (or, for a re-authentication, the
 * connected one, with the user name it is authenticated as) and the authentication method.
 */
export interface AuthExchangeRequest extends AuthRequest {
  /** The authentication method, one of the plugin's `authMethods`. */
  readonly method: string;
  /** True for a re-authentication (AUTH 0x19 from a connected client), false for a CONNECT. */
  readonly reauthenticate: boolean;
}

/** An exchange goes on: the broker sends AUTH 0x18 (continue authentication) with `continue`. */
export interface AuthContinue {
  readonly continue: Uint8Array | undefined;
}

/**
 * An exchange succeeded: the broker sends CONNACK 0x00 (or AUTH 0x00 after a re-authentication)
 * with `success` as authentication data.
 */
export interface AuthSuccess {
  readonly success: Uint8Array | undefined;
  /**
   * The user name the exchange authenticated. The plugin manager fails an exchange whose user
   * name differs from the one the client gave; from the manager it is always the user name the
   * client is to have (undefined: none).
   */
  readonly username?: string;
}

/** An exchange failed: the broker sends CONNACK (or, after a re-authentication, DISCONNECT). */
export interface AuthFailure {
  /**
   * The reason code, 0x80 or more, that CONNACK (or for a re-authentication DISCONNECT) may
   * carry; the manager replaces any other by 0x87 not authorized, and logs it.
   */
  readonly fail: number;
  readonly reasonString?: string;
  /** With reason code 0x9C or 0x9D: where the client should go instead. */
  readonly serverReference?: string;
}

/** One answer of an enhanced authentication exchange. */
export type AuthStep = AuthContinue | AuthSuccess | AuthFailure;

/**
 * One enhanced authentication exchange (MQTT 5 §4.12), made by a plugin's `startAuth`. `step` is
 * called first with the authentication data of the packet that opened it (CONNECT, or AUTH 0x19
 * for a re-authentication), then with that of each AUTH 0x18 the client answers a continue with.
 * It ends at the first success or failure.
 */
export interface AuthExchange {
  step(data: Uint8Array | undefined): AuthStep | Promise<AuthStep>;
  /** The connection went away, or the broker stops, before the exchange ended. */
  abort?(): void;
}

/** What a plugin's `setup` gets. */
export interface PluginContext {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  /** Publishes a message as the broker (it may go to `$SYS`). */
  publish(message: Message): void;
}

/** A broker plugin. Every hook is optional and may be async. */
export interface Plugin {
  readonly name: string;
  /** Called once before the listeners start. */
  setup?(context: PluginContext): void | Promise<void>;
  /**
   * Asked when a client connects without an authentication method, if the plugin is in
   * `auth.plugins` (or that key is absent).
   */
  authenticate?(request: AuthRequest): AuthVerdict | Promise<AuthVerdict>;
  /**
   * The enhanced authentication methods `startAuth` handles (MQTT 5 authentication method
   * names, matched exactly, such as `SCRAM-SHA-256`).
   */
  readonly authMethods?: readonly string[];
  /**
   * Opens an exchange for a client whose CONNECT (or re-authenticating AUTH) names one of
   * `authMethods`, if the plugin is in `auth.plugins` (or that key is absent). The exchange
   * decides alone: `authenticate` hooks are not asked about such a client.
   */
  startAuth?(request: AuthExchangeRequest): AuthExchange | Promise<AuthExchange>;
  /** Asked per topic, if `topic-check.enabled` and the plugin is in `topic-check.plugins`. */
  topicFiltering?(
    client: ClientInfo,
    topic: string,
    action: TopicAction,
  ): Verdict | Promise<Verdict>;
  /** Event listeners, by the seed's event names. */
  on?: { [E in BrokerEventName]?: BrokerEventHandler<E> };
  /**
   * Re-reads whatever the plugin loaded from disk (the CLI calls it on SIGHUP). On failure it
   * rejects and the plugin keeps its previous state.
   */
  reload?(): void | Promise<void>;
  /** Called once after the broker has stopped; frees what `setup` took. */
  teardown?(): void | Promise<void>;
}
