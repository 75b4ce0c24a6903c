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

/** What an authentication plugin sees of a connecting client. */
export interface AuthRequest extends ClientInfo {
  readonly password?: Uint8Array;
}

/** A message as the broker routes it. */
export interface Message {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
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
  | "shutdown";

/** The broker's events, by the seed's names, with their arguments. */
export interface BrokerEvents {
  broker_pre_start: [];
  broker_post_start: [];
  broker_pre_shutdown: [];
  broker_post_shutdown: [];
  broker_client_connected: [client: ClientInfo];
  broker_client_disconnected: [client: ClientInfo, reason: DisconnectReason];
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
 * A hook's answer: `true` accepts, `false` refuses, `undefined` abstains. A client or topic passes
 * only when at least one asked plugin accepts and none refuses; when all abstain it is refused.
 */
export type Verdict = boolean | undefined | void;

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
  /** Asked when a client connects, if the plugin is in `auth.plugins` (or that key is absent). */
  authenticate?(request: AuthRequest): Verdict | Promise<Verdict>;
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
