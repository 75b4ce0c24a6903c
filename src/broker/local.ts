/**
 * An embedder's subscription (`Broker.subscribe`): a subscriber without a connection that gets,
 * synchronously as they are routed, the messages a QoS 2 subscriber with its filter would get.
 *
 * @module
 */
import type { QoS } from "../protocol/packets.ts";
import type { Logger } from "../log.ts";
import type { Message } from "../plugins/types.ts";
import type { RoutedMessage } from "./message.ts";
import { type Room, ROOM_NOW, type Subscriber } from "./subscriptions.ts";

/** A handler of `Broker.subscribe`; it may be async, and its errors are logged, never thrown. */
export type MessageHandler = (message: Message) => void | Promise<void>;

/** One embedder's subscription to one filter. */
export class LocalSubscriber implements Subscriber {
  routeMark = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined = undefined;
  /** The embedder is trusted: no topic check applies to what it receives. */
  readonly info: undefined = undefined;

  constructor(
    readonly filter: string,
    readonly handler: MessageHandler,
    readonly logger: Logger,
  ) {}

  /** Hands the message over, with the QoS and retain flag a network subscriber would see. */
  deliver(message: RoutedMessage, qos: QoS, retain: boolean): void {
    const { topic, payload } = message;
    try {
      const result: unknown = this.handler({ topic, payload, qos, retain });
      if (result !== undefined) Promise.resolve(result).then(undefined, (e) => this.#report(e));
    } catch (e) {
      this.#report(e);
    }
  }

  /** Always ready: the handler is called at once. */
  room(): Room {
    return ROOM_NOW;
  }

  #report(error: unknown): void {
    const why = error instanceof Error ? error.message : String(error);
    this.logger.error(`a subscribe handler for ${this.filter} failed: ${why}`);
  }
}
