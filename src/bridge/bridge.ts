/**
 * One bridge: an MQTT.js client to the remote broker, a local subscriber per outgoing pattern,
 * and the queue between them. Outgoing messages are handed to MQTT.js only within a window of
 * unacknowledged ones, so a long backlog drains at the pace of the remote's acknowledgements;
 * MQTT.js keeps the ones in flight and resends them (QoS 2: the PUBREL) on the next connection
 * of the same client, which resumes the remote session.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import type { IClientOptions, IPublishPacket, MqttClient } from "mqtt";
import type { ResolvedBridge, ResolvedBridgeTopic } from "../config/types.ts";
import type { QoS } from "../protocol/packets.ts";
import type { Logger } from "../log.ts";
import type { BridgeSeam } from "../broker/bridge_seam.ts";
import { RoutedMessage } from "../broker/message.ts";
import { type Room, ROOM_NOW, type Subscriber } from "../broker/subscriptions.ts";
import type { Properties } from "../protocol/properties.ts";
import { Echoes, payloadKey } from "./echoes.ts";
import { localProperties, remoteProperties } from "./properties.ts";
import { Fifo } from "../broker/fifo.ts";
import { incomingFor, localFilter, remoteFilter, toLocal, toRemote } from "./topics.ts";

/**
 * Most messages handed to MQTT.js and not yet acknowledged (less if the remote says so): at 32
 * the bridge forwarded QoS 1 at about 0.6x Mosquitto's bridge on loopback, at 128 on a par.
 */
const WINDOW = 128;

/** A 5.0 session that outlives every disconnection, as a 3.1.1 clean-session 0 one does. */
const SESSION_FOREVER = 0xffffffff;

/** Retained topics whose last payload from the remote is remembered. */
const RETAINED_SEEN = 100_000;

/** The reason code of a PUBCOMP for a packet identifier the remote does not hold. */
const PACKET_ID_NOT_FOUND = 0x92;

const DEFAULT_PORTS: Record<string, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 };

/** A message waiting for the remote. */
interface Pending {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** Remembered so that the remote's copy of it coming back in is recognised (3.1.1, `both`). */
  echo: boolean;
  /** 5.0 remotes get the message properties. */
  properties: Properties | undefined;
  /** When it expires (ms since the epoch), or 0. */
  expiresAt: number;
}

/** A bridge's figures, for `$SYS`. */
export interface BridgeFigures {
  up: boolean;
  forwardedOut: number;
  forwardedIn: number;
  queued: number;
  dropped: number;
}

/** Routing hands each local subscriber its messages; this one queues them for the remote. */
class Outgoing implements Subscriber {
  routeMark = 0;
  routeQos: QoS = 0;
  routeRetain = false;
  routeIds: number[] | undefined = undefined;
  readonly info: undefined = undefined;

  constructor(readonly bridge: Bridge, readonly topic: ResolvedBridgeTopic) {}

  deliver(message: RoutedMessage, qos: QoS, retain: boolean): void {
    this.bridge.forward(this.topic, message, qos, retain);
  }

  room(): Room {
    return this.bridge.full ? 0 : ROOM_NOW;
  }
}

/** A running bridge; {@link Bridge.stop} ends it. */
export class Bridge {
  readonly #queue = new Fifo<Pending>();
  readonly #client: MqttClient;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #echoes: Echoes;
  /**
   * The payload (its {@link payloadKey}) last routed in as retained, by local topic: the replay
   * a new remote subscription brings is not routed again.
   */
  readonly #retainedIn = new Map<string, string>();
  /** The remote subscriptions, by filter, with their options. */
  readonly #incoming: Record<string, { qos: QoS; nl?: boolean; rap?: boolean }> = {};
  #inflight = 0;
  #window = WINDOW;
  #backoff: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Set while routing a message that came in, which must not go straight back out. */
  #routingIn = false;
  #droppedLogged = false;
  readonly figures: BridgeFigures = {
    up: false,
    forwardedOut: 0,
    forwardedIn: 0,
    queued: 0,
    dropped: 0,
  };

  constructor(
    readonly config: ResolvedBridge,
    readonly broker: BridgeSeam,
    readonly logger: Logger,
  ) {
    this.#backoff = config.reconnectMinMs;
    this.#echoes = new Echoes(Math.max(config.maxQueuedMessages, WINDOW) + WINDOW);
    this.#client = mqtt.connect(this.#options());
    const client = this.#client;
    // Acknowledging only after routing: MQTT.js sends PUBACK / PUBCOMP once this calls back.
    client.handleMessage = (packet, done) => {
      this.#receive(packet);
      done();
    };
    client.on("connect", (connack) => {
      // A session the remote kept has the subscriptions; MQTT.js, not reconnecting by itself,
      // would not make them again.
      if (!connack.sessionPresent && Object.keys(this.#incoming).length > 0) {
        client.subscribe(this.#incoming);
      }
      this.#connected(connack.properties?.receiveMaximum);
    });
    client.on("close", () => this.#closed());
    client.on("error", (e) => this.logger.debug(`bridge ${config.name}: ${e.message}`));
    for (const topic of config.topics) {
      if (topic.direction !== "in") {
        const subscriber = new Outgoing(this, topic);
        this.#unsubscribe.push(
          broker.subscribeLocal(localFilter(topic), subscriber, {
            qos: topic.qos,
            noLocal: false,
            retainAsPublished: true,
            retainHandling: 0,
          }),
        );
      }
      if (topic.direction !== "out") {
        this.#incoming[remoteFilter(topic)] = config.protocol === 5
          ? { qos: topic.qos, nl: true, rap: true }
          : { qos: topic.qos };
      }
    }
    this.#notify(false);
  }

  #options(): IClientOptions {
    const c = this.config;
    const urls = c.addresses.map((a) => new URL(a));
    const servers = urls.map((u) => {
      const protocol = u.protocol.slice(0, -1) as "mqtt" | "mqtts" | "ws" | "wss";
      return {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port === "" ? DEFAULT_PORTS[protocol] : Number(u.port),
        protocol,
      };
    });
    const wsPath = urls.find((u) => u.protocol.startsWith("ws"))?.pathname;
    return {
      ...servers[0],
      servers,
      path: wsPath,
      protocolVersion: c.protocol,
      clientId: c.clientId,
      username: c.username,
      password: c.password,
      clean: c.cleanStart,
      keepalive: c.keepalive,
      // Reconnecting is ours (jittered backoff); MQTT.js would retry at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      ...(c.protocol === 5 && !c.cleanStart &&
        { properties: { sessionExpiryInterval: SESSION_FOREVER } }),
      ...(c.tls && { ca: c.tls.ca, cert: c.tls.cert, key: c.tls.key }),
    };
  }

  /** Whether the queue is at its bound. */
  get full(): boolean {
    return this.#queue.length >= this.config.maxQueuedMessages;
  }

  /** Queues a local message for the remote (called by routing, synchronously). */
  forward(topic: ResolvedBridgeTopic, message: RoutedMessage, qos: QoS, retain: boolean): void {
    if (this.#routingIn || this.#stopped || message.expired) return;
    if (this.full) {
      this.figures.dropped++;
      if (!this.#droppedLogged) {
        this.#droppedLogged = true;
        this.logger.warn(
          `bridge ${this.config.name}: max-queued-messages reached, messages for the remote are dropped (logged once; $SYS counts each)`,
        );
      }
      return;
    }
    this.#queue.push({
      topic: toRemote(topic, message.topic),
      // Kept for as long as the remote takes: not the larger chunk it was read in.
      payload: message.own().payload,
      qos,
      retain,
      echo: topic.direction === "both" && this.config.protocol === 4,
      properties: message.properties,
      expiresAt: message.expiresAt,
    });
    this.#pump();
  }

  /** Hands queued messages to MQTT.js while the window has room. */
  #pump(): void {
    const client = this.#client;
    while (client.connected && this.#inflight < this.#window && !this.#stopped) {
      const item = this.#queue.shift();
      if (item === undefined) break;
      const left = item.expiresAt === 0
        ? undefined
        : Math.ceil((item.expiresAt - Date.now()) / 1000);
      if (left !== undefined && left <= 0) continue;
      this.#inflight++;
      if (item.echo) this.#echoes.add(item.topic, item.payload);
      client.publish(
        item.topic,
        Buffer.from(item.payload.buffer, item.payload.byteOffset, item.payload.byteLength),
        {
          qos: item.qos,
          retain: item.retain,
          ...(this.config.protocol === 5 && {
            properties: remoteProperties(item.properties, left),
          }),
        },
        (error, packet) => {
          this.#inflight--;
          if (this.#stopped) return;
          this.#settled(item, error, packet?.cmd);
          this.#pump();
        },
      );
    }
    this.figures.queued = this.#queue.length;
  }

  /**
   * What the remote's answer means: done; refused by the remote (a reason code: counted as
   * dropped, since sending it again gets the same answer); or lost with a clean-start
   * connection, to go round again. A PUBCOMP saying 0x92 (packet identifier not found) answers a
   * PUBREL resent after a cut link whose first PUBCOMP was lost: the remote completed it then.
   */
  #settled(item: Pending, error: Error | undefined, answer: string | undefined): void {
    const code = (error as { code?: unknown } | undefined)?.code;
    if (!error || (answer === "pubcomp" && code === PACKET_ID_NOT_FOUND)) {
      this.figures.forwardedOut++;
    } else if (typeof code === "number") {
      this.figures.dropped++;
      this.logger.warn(
        `bridge ${this.config.name}: the remote refused ${item.topic}: ${error.message}`,
      );
    } else this.#queue.unshift(item);
  }

  #receive(packet: IPublishPacket): void {
    const remote = packet.topic;
    const topic = incomingFor(this.config.topics, remote);
    if (topic === undefined) return;
    const payload = typeof packet.payload === "string"
      ? new TextEncoder().encode(packet.payload)
      : new Uint8Array(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length);
    if (topic.direction === "both" && this.#echoes.take(remote, payload)) return;
    const local = toLocal(topic, remote);
    if (packet.retain) {
      const seen = payloadKey(payload);
      if (this.#retainedIn.get(local) === seen) return;
      this.#retainedIn.delete(local);
      if (payload.length > 0) this.#retainedIn.set(local, seen);
      // Forgetting the oldest costs at most one repeated routing of it.
      if (this.#retainedIn.size > RETAINED_SEEN) {
        this.#retainedIn.delete(this.#retainedIn.keys().next().value!);
      }
    }
    const qos = Math.min(packet.qos, topic.qos) as QoS;
    this.#routingIn = true;
    try {
      const properties = localProperties(packet.properties);
      this.broker.route(
        new RoutedMessage(local, payload, qos, packet.retain, properties),
        undefined,
      );
    } finally {
      this.#routingIn = false;
    }
    this.figures.forwardedIn++;
  }

  #connected(receiveMaximum: number | undefined): void {
    this.#backoff = this.config.reconnectMinMs;
    this.#window = Math.min(WINDOW, receiveMaximum ?? WINDOW);
    this.figures.up = true;
    this.logger.info(`bridge ${this.config.name}: connected`);
    this.#notify(true);
    this.#pump();
  }

  #closed(): void {
    if (this.figures.up) {
      this.figures.up = false;
      this.logger.info(`bridge ${this.config.name}: disconnected`);
      this.#notify(false);
    }
    if (this.#stopped || this.#timer !== undefined) return;
    // Full jitter over the upper half: attempts from many edges spread, and never come at once.
    const delay = this.#backoff / 2 + Math.random() * this.#backoff / 2;
    this.#backoff = Math.min(this.config.reconnectMaxMs, this.#backoff * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#stopped) return;
      const client = this.#client;
      // Passing the stores keeps what is in flight: reconnect() would otherwise start empty ones.
      client.reconnect({
        incomingStore: client.incomingStore,
        outgoingStore: client.outgoingStore,
      });
    }, delay);
  }

  #notify(up: boolean): void {
    if (!this.config.notifications) return;
    const topic = `$SYS/broker/connection/${this.config.name}/state`;
    const payload = new TextEncoder().encode(up ? "1" : "0");
    this.broker.route(new RoutedMessage(topic, payload, 1, true), undefined);
  }

  /** Disconnects from the remote and unsubscribes locally; leaves no timer or socket. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    // Forced: a graceful end waits for every message in flight, which a dead remote never acks.
    await new Promise<void>((resolve) => this.#client.end(true, {}, () => resolve()));
    if (this.figures.up) {
      this.figures.up = false;
      this.#notify(false);
    }
  }
}
