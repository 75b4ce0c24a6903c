/**
 * `Broker`: what an embedding application gets from `createBroker`. It holds only the embedder
 * API; the machinery is a {@link BrokerCore} that connections and plugins see through narrower
 * interfaces.
 *
 * @module
 */
import type { QoS } from "../protocol/packets.ts";
import { topicFilterError, topicNameError } from "../protocol/topic.ts";
import type { BrokerEventHandler, BrokerEventName, ClientInfo, Message } from "../plugins/types.ts";
import type { BoundListener, BrokerCore, Gauges } from "./core.ts";
import { LocalSubscriber, type MessageHandler } from "./local.ts";
import { RoutedMessage } from "./message.ts";
import type { Stats } from "./stats.ts";
import { subscriptionOptions } from "./subscriptions.ts";

export type { BoundListener, Gauges, MessageHandler };

/** A message to publish from the embedding application. */
export interface PublishOptions {
  topic: string;
  payload?: Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
}

/** Ends a {@link Broker.subscribe}: call it, or let `using` dispose of it. Idempotent. */
export type Unsubscribe = (() => void) & Disposable;

/** What a wrong argument is, for error messages: `null`, `number`, `ArrayBuffer`. */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

const utf8 = new TextEncoder();

/** A topic name's length field is 16 bits. */
const MAX_TOPIC_BYTES = 65535;

/** Every embedder subscription is a QoS 2 one with the 3.1.1 options. */
const LOCAL_OPTIONS = subscriptionOptions({ filter: "", qos: 2 });

/** A running MQTT broker. Create it with `createBroker`. */
export class Broker {
  readonly #core: BrokerCore;

  /** @internal `createBroker` makes brokers; this wraps its machinery. */
  constructor(core: BrokerCore) {
    this.#core = core;
  }

  /** Adds an event listener. */
  on<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): this {
    this.#core.events.on(event, listener);
    return this;
  }

  /** Removes an event listener. */
  off<E extends BrokerEventName>(event: E, listener: BrokerEventHandler<E>): this {
    this.#core.events.off(event, listener);
    return this;
  }

  /** The listeners as bound. */
  get listeners(): BoundListener[] {
    return this.#core.listeners;
  }

  /** The clients connected now. */
  get clients(): ClientInfo[] {
    return this.#core.clients;
  }

  /** Gauges for monitoring, read now. */
  get gauges(): Gauges {
    return this.#core.gauges;
  }

  /** Running totals since start; the broker's own, so read them, never write. */
  get stats(): Readonly<Stats> {
    return this.#core.stats;
  }

  /**
   * Publishes a message as the broker itself (it may use `$SYS`). Throws a TypeError for an
   * invalid topic or a payload that is neither a string nor bytes, and a RangeError for a topic
   * over 65,535 UTF-8 bytes or a QoS other than 0, 1 or 2.
   */
  publish(options: PublishOptions | Message): void {
    const { topic, qos = 0, retain = false } = options;
    if (typeof topic !== "string") {
      throw new TypeError(`cannot publish: topic must be a string, not ${kind(topic)}`);
    }
    const error = topicNameError(topic);
    if (error) throw new TypeError(`cannot publish to ${JSON.stringify(topic)}: ${error}`);
    // A UTF-16 code unit takes at most 3 UTF-8 bytes: only long topics need measuring.
    if (topic.length > MAX_TOPIC_BYTES / 3 && utf8.encode(topic).length > MAX_TOPIC_BYTES) {
      throw new RangeError(
        `cannot publish: the topic is over ${MAX_TOPIC_BYTES} bytes of UTF-8, which MQTT cannot carry`,
      );
    }
    if (qos !== 0 && qos !== 1 && qos !== 2) {
      throw new RangeError(`cannot publish to ${topic}: qos must be 0, 1 or 2, not ${String(qos)}`);
    }
    if (typeof retain !== "boolean") {
      throw new TypeError(
        `cannot publish to ${topic}: retain must be a boolean, not ${kind(retain)}`,
      );
    }
    const given: unknown = options.payload;
    let payload: Uint8Array;
    if (typeof given === "string") payload = utf8.encode(given);
    else if (given instanceof Uint8Array) payload = given;
    else if (given === undefined) payload = new Uint8Array(0);
    else {
      throw new TypeError(
        `cannot publish to ${topic}: payload must be a string or a Uint8Array, not ${kind(given)}`,
      );
    }
    this.#core.route(new RoutedMessage(topic, payload, qos, retain), undefined);
  }

  /**
   * Calls `handler` with every message a client subscribed to `filter` at QoS 2 would get, with
   * the QoS and retain flag it would get them with, without a connection: synchronously as each
   * is routed (messages from clients, `publish()`, wills, `$SYS`), and the retained messages
   * matching `filter` at once, before this returns. No topic check applies. Returns the
   * function that ends the subscription (also a `Disposable`, for `using`). Throws a TypeError
   * for a malformed filter or a handler that is not a function.
   */
  subscribe(filter: string, handler: MessageHandler): Unsubscribe {
    if (typeof filter !== "string") {
      throw new TypeError(`cannot subscribe: filter must be a string, not ${kind(filter)}`);
    }
    const error = topicFilterError(filter);
    if (error) throw new TypeError(`cannot subscribe to ${JSON.stringify(filter)}: ${error}`);
    if (typeof handler !== "function") {
      throw new TypeError(`cannot subscribe to ${filter}: handler must be a function`);
    }
    const subscriber = new LocalSubscriber(filter, handler, this.#core.logger);
    const remove = this.#core.subscribeLocal(filter, subscriber, LOCAL_OPTIONS);
    const unsubscribe = () => remove();
    return Object.assign(unsubscribe, { [Symbol.dispose]: unsubscribe });
  }

  /** Re-reads plugin files such as the password file (the CLI calls this on SIGHUP). */
  reload(): Promise<void> {
    return this.#core.reload();
  }

  /**
   * Stops listening, disconnects every client, runs the shutdown hooks and stops every timer:
   * afterwards nothing of the broker keeps the process alive. Idempotent.
   */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** `await using broker = await createBroker(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
