/**
 * What connections, sessions and packet handlers may use of the broker (mochi-mqtt's `ops`): a
 * narrow interface instead of the `Broker` class, so that they import no broker module at run
 * time and the published `Broker` type holds only the embedder API. `BrokerCore` implements it.
 *
 * @module
 */
import type { ConnectPacket } from "../protocol/packets.ts";
import type { Properties } from "../protocol/properties.ts";
import type { ResolvedConfig } from "../config/types.ts";
import type { BrokerLogger } from "../log.ts";
import type {
  AuthRequest,
  BrokerEventName,
  BrokerEvents,
  ClientInfo,
  Decision,
  DisconnectReason,
  TopicAction,
} from "../plugins/types.ts";
import type { AuthExchangeHandle } from "../plugins/exchange.ts";
import type { Client } from "./client.ts";
import type { Deadlines } from "./deadlines.ts";
import type { RoutedMessage } from "./message.ts";
import type { Stats } from "./stats.ts";
import type { SubscriptionOptions } from "./subscriptions.ts";

/** What the broker asks of its plugins (the plugin manager provides it). */
export interface BrokerHooks {
  /** Whether a client connecting without an authentication method is admitted, and why not. */
  decideAuth(request: AuthRequest): Decision | Promise<Decision>;
  /** Whether `client` may `action` on `topic`, with the reason code of a refusal. */
  decideTopic(client: ClientInfo, topic: string, action: TopicAction): Decision | Promise<Decision>;
  /** {@link BrokerHooks.decideTopic} without the reason. */
  checkTopic(client: ClientInfo, topic: string, action: TopicAction): boolean | Promise<boolean>;
  /**
   * Opens an enhanced authentication exchange for `method`, or undefined when no plugin handles
   * it (CONNACK 0x8C).
   */
  startAuthExchange(
    method: string,
    request: AuthRequest,
    reauthenticate?: boolean,
  ): AuthExchangeHandle | undefined;
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void;
  listens(event: BrokerEventName): boolean;
  /** Frees what the plugins hold; called last by `close()`. */
  teardown?(): Promise<void>;
  /** Re-reads what plugins loaded from files (e.g. the password file), on SIGHUP. */
  reload?(): Promise<void>;
}

/** Why {@link BrokerContext.attach} refused an authenticated CONNECT. */
export interface Refusal {
  /** The MQTT 5.0 CONNACK reason code; the codec words it for 3.1.1. */
  code: number;
  /** For the log line. */
  why: string;
  /** For a 5.0 client's reason string, when it says nothing the client should not know. */
  reason?: string;
}

/** The broker as its connections, sessions and handlers see it. */
export interface BrokerContext {
  readonly config: ResolvedConfig;
  /** Escapes control characters; every line of the broker goes through it. */
  readonly logger: BrokerLogger;
  readonly stats: Stats;
  /** The connections' timeouts, checked by the broker's sweep. */
  readonly deadlines: Deadlines;
  /** What the plugins say. */
  readonly hooks: BrokerHooks;
  /** Emits to embedders' listeners and to plugins. */
  emit<E extends BrokerEventName>(event: E, ...args: BrokerEvents[E]): void;
  /** Whether anyone listens to `event`, so that callers can skip building its arguments. */
  listens(event: BrokerEventName): boolean;
  /** A fresh client id for a client that sent an empty one. */
  newClientId(): string;
  /** Stamps a CONNECT as it arrives: later CONNECTs get higher numbers. */
  connectSequence(): number;
  /**
   * CONNECT authenticated, before `attach`: in a cluster, the client id's lease and the session
   * another node hands over; resolves with a refusal, if any. Undefined when alone (no wait).
   */
  claim(
    info: ClientInfo,
    packet: ConnectPacket,
  ): Promise<Refusal | undefined> | undefined;
  /**
   * CONNECT authenticated: unless the client id belongs to someone else or a newer CONNECT holds
   * it, take over, find or create the session and answer CONNACK with `connack` (the 5.0
   * properties; a 3.1.1 connection leaves them out). The session then outlives the connection
   * by `expiryMs` (see `Session.expiryMs`).
   */
  attach(
    client: Client,
    info: ClientInfo,
    packet: ConnectPacket,
    connack: Properties,
    expiryMs: number,
  ): Refusal | undefined;
  /** The connection ended: will, session, bookkeeping. */
  detach(client: Client, reason: DisconnectReason): void;
  /** Stores (if retained) and delivers a message; returns how many subscribers matched. */
  route(message: RoutedMessage, from: ClientInfo | undefined): number;
  /**
   * Adds or replaces a subscription of a connected client's session; returns false, adding
   * nothing, when a new one would exceed `max-subscriptions-per-session`.
   */
  subscribe(client: Client, filter: string, options: SubscriptionOptions): boolean;
  /** Removes a subscription; returns whether the session had it. */
  unsubscribe(client: Client, filter: string): boolean;
  /**
   * Whether output must wait for the commit of the records before it (an acknowledgement
   * promises they are on disk); then `flush` runs after that commit.
   */
  holdOutput(flush: () => void): boolean;
  /**
   * Numbers the commit that output held now waits for: it grows with each commit, and is 0
   * while nothing waits (see `HeldOutput`).
   */
  readonly pendingCommit: number;
  /** Commits the pending records now and lets out the output held for them. */
  commit(): void;
  /** Sends the retained messages matching a new subscription, as fast as the client takes them. */
  sendRetained(client: Client, filter: string, options: SubscriptionOptions): void;
}
