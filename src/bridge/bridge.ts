/**
 * One bridge: a connection of its own to the remote broker (link.ts, on the broker's codec), a
 * local subscriber per outgoing pattern, and the outbox between them. Outgoing messages go out
 * within a window of unacknowledged ones, bounded by the remote's Receive Maximum, so a long
 * backlog drains at the pace of the remote's acknowledgements; on the next connection of the
 * same client, which resumes the remote session, the ones in flight are sent again with their
 * packet identifiers (QoS 2: the PUBREL), so QoS 2 stays exactly once.
 *
 * MQTT.js did this before; measured on loopback it spent about three times the CPU per QoS 1
 * message of a plain socket client (14 µs against 5), which held the bridge at about half of
 * Mosquitto's.
 *
 * @module
 */
import type { ResolvedBridge, ResolvedBridgeTopic } from "../config/types.ts";
import { encodeAck } from "../protocol/encode.ts";
import { encodeAck5 } from "../protocol/encode5.ts";
import { type AckPacket, PacketType, type PublishPacket, type QoS } from "../protocol/packets.ts";
import { topicMatches } from "../protocol/topic.ts";
import type { Logger } from "../log.ts";
import { BRIDGE_SESSION_PREFIX, type BridgeSeam, type HeldBridge } from "../broker/bridge_seam.ts";
import { RoutedMessage } from "../broker/message.ts";
import { type Room, ROOM_NOW, type Subscriber } from "../broker/subscriptions.ts";
import { Echoes, payloadKey } from "./echoes.ts";
import { incomingFor, localFilter, remoteFilter, toLocal, toRemote } from "./topics.ts";
import { Link } from "./link.ts";
import { Outbox, type Pending, SUBSCRIBE_ID } from "./outbox.ts";
import { DISCONNECT, encodeSubscribe, type SubscribeFilter } from "./wire.ts";
import type { Connack } from "./wire.ts";

/**
 * Most messages in flight (less if the remote's Receive Maximum says so): at 128 the bridge
 * waited on the remote's acknowledgements on loopback; Mosquitto's default is 20 per client
 * but its bridge takes `max_inflight_messages` too.
 */
const WINDOW = 1000;

/** A 5.0 session that outlives every disconnection, as a 3.1.1 clean-session 0 one does. */
const SESSION_FOREVER = 0xffffffff;

/** The payloads of the state topics. */
const STATE_UP = new TextEncoder().encode("1");
const STATE_DOWN = new TextEncoder().encode("0");

/** Retained topics whose last payload from the remote is remembered. */
const RETAINED_SEEN = 100_000;

/** The reason code of a PUBCOMP for a packet identifier the remote does not hold. */
const PACKET_ID_NOT_FOUND = 0x92;

/** A bridge's figures, for `$SYS` and metrics. */
export interface BridgeFigures {
  up: boolean;
  forwardedOut: number;
  forwardedIn: number;
  queued: number;
  dropped: number;
  /** Connections to the remote after the first. */
  reconnects: number;
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
  readonly #outbox: Outbox;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #echoes: Echoes;
  /**
   * The payload (its {@link payloadKey}) last routed in as retained, by local topic: the replay
   * a new remote subscription brings is not routed again.
   */
  readonly #retainedIn = new Map<string, string>();
  /** The remote subscriptions. */
  readonly #incoming: SubscribeFilter[] = [];
  /** QoS 2 packet identifiers the remote sent and has not released. */
  readonly #awaitingRelease = new Set<number>();
  #link: Link | undefined;
  #address = 0;
  #connections = 0;
  #window = WINDOW;
  #maxPacketSize = Infinity;
  #backoff: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** Set while routing a message that came in, which must not go straight back out. */
  #routingIn = false;
  #droppedLogged = false;
  /** Publishers' acknowledgements held while the queue drains (see {@link Bridge.forward}). */
  readonly #heldAcks: (() => void)[] = [];
  readonly #holdAck = (flush: () => void): void => {
    this.#heldAcks.push(flush);
  };
  readonly figures: BridgeFigures = {
    up: false,
    forwardedOut: 0,
    forwardedIn: 0,
    queued: 0,
    dropped: 0,
    reconnects: 0,
  };

  /** @param held this bridge's state of a previous run, as the store gave it back at start */
  constructor(
    readonly config: ResolvedBridge,
    readonly broker: BridgeSeam,
    readonly logger: Logger,
    held?: HeldBridge,
  ) {
    this.#backoff = config.reconnectMinMs;
    this.#echoes = new Echoes(Math.max(config.maxQueuedMessages, WINDOW) + WINDOW);
    this.#outbox = new Outbox({
      store: broker.store,
      clientId: BRIDGE_SESSION_PREFIX + config.name,
      storeMessage: (m) => broker.storeMessage(m),
    });
    if (held) {
      for (const id of held.awaitingRelease) this.#awaitingRelease.add(id);
      this.#outbox.restore(held.deliveries, (local, qos, retain) => {
        const topic = config.topics.find((t) =>
          t.direction !== "in" && topicMatches(localFilter(t), local.topic)
        );
        return topic && this.#pending(topic, local, qos, retain);
      });
      this.figures.queued = this.#outbox.queue.length;
    }
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
        this.#incoming.push({
          filter: remoteFilter(topic),
          qos: topic.qos,
          noLocal: true,
          retainAsPublished: true,
        });
      }
    }
    this.#notify(false);
    this.#connect();
  }

  /** The bridge's state topic on the remote, named by its client id there (as Mosquitto's). */
  get #remoteState(): string {
    return `$SYS/broker/connection/${this.config.clientId}/state`;
  }

  /** The bridge's state for the remote, retained, at QoS 0: nothing to track for it. */
  #stateMessage(up: boolean): Uint8Array {
    const message = new RoutedMessage(this.#remoteState, up ? STATE_UP : STATE_DOWN, 0, true);
    return message.encode(this.config.protocol, 0, true, 0);
  }

  #connect(): void {
    const c = this.config;
    this.#link = new Link(
      c.addresses[this.#address],
      c.tls,
      {
        version: c.protocol,
        clientId: c.clientId,
        username: c.username,
        password: c.password,
        clean: c.cleanStart,
        keepalive: c.keepalive,
        sessionExpiry: c.protocol === 5 && !c.cleanStart ? SESSION_FOREVER : undefined,
        // As Mosquitto's bridge: the remote says `0` for us when the link dies.
        will: c.notifications
          ? { topic: this.#remoteState, payload: STATE_DOWN, qos: 1, retain: true }
          : undefined,
      },
      {
        up: (connack) => this.#connected(connack),
        publish: (packet) => this.#receive(packet),
        ack: (packet) => this.#ack(packet),
        suback: (codes) => {
          if (codes.some((code) => code >= 0x80)) {
            this.logger.warn(`bridge ${c.name}: the remote refused a subscription: ${codes}`);
          }
        },
        down: (reason, accepted) => this.#closed(reason, accepted),
      },
      (release) => this.broker.holdForCommit(release),
      () => this.broker.pendingCommit,
    );
  }

  /** Whether the queue is at its bound. */
  get full(): boolean {
    return this.#outbox.queue.length >= this.config.maxQueuedMessages;
  }

  #pending(topic: ResolvedBridgeTopic, local: RoutedMessage, qos: QoS, retain: boolean): Pending {
    const remoteTopic = toRemote(topic, local.topic);
    return {
      local,
      // The same topic shares the message's encodings, the publisher's own frame among them.
      remote: remoteTopic === local.topic ? local : new RoutedMessage(
        remoteTopic,
        local.payload,
        local.qos,
        local.retain,
        local.properties,
        local.expiresAt,
      ),
      qos,
      retain,
      echo: topic.direction === "both" && this.config.protocol === 4,
      seq: 0,
      packetId: 0,
      released: false,
    };
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
    // Kept for as long as the remote takes: not the larger chunk it was read in.
    this.#outbox.add(this.#pending(topic, message.own(), qos, retain));
    this.#pump();
    // Backpressure while the remote takes messages more slowly than publishers send them: their
    // acknowledgements wait, so what the edge acknowledged and has not forwarded stays within
    // about a window's worth plus the publishers' in-flight limits. While the remote is away
    // nothing is held: the queue fills to its bound, as configured.
    if (this.#link?.up && this.#outbox.queue.length >= WINDOW) {
      this.broker.holdAcknowledgement(this.#holdAck);
    }
  }

  /** Lets the held acknowledgements out, after the commit of what they acknowledge. */
  #releaseAcks(): void {
    for (const flush of this.#heldAcks.splice(0)) {
      if (!this.broker.holdForCommit(flush)) flush();
    }
  }

  /** Sends queued messages while the window has room. */
  #pump(): void {
    const link = this.#link;
    const outbox = this.#outbox;
    const version = this.config.protocol;
    while (link?.up && outbox.inflight.size < this.#window) {
      const item = outbox.queue.shift();
      if (item === undefined) break;
      if (item.remote.expired) {
        outbox.remove(item);
        continue;
      }
      if (
        this.#maxPacketSize !== Infinity &&
        item.remote.encodedLength(version, item.qos) > this.#maxPacketSize
      ) {
        this.figures.dropped++;
        this.logger.warn(
          `bridge ${this.config.name}: ${item.remote.topic} is larger than the remote's maximum packet size ${this.#maxPacketSize}`,
        );
        outbox.remove(item);
        continue;
      }
      if (item.echo) this.#echoes.add(item.remote.topic, item.remote.payload);
      if (item.qos === 0) this.figures.forwardedOut++;
      else outbox.send(item);
      // With persistence a QoS 1/2 PUBLISH waits for the record of its packet identifier: sent
      // before it, a crash would bring it back under another one, twice at the remote.
      link.send(item.remote.encode(version, item.qos, item.retain, item.packetId), item.qos > 0);
    }
    this.figures.queued = outbox.queue.length;
    if (this.#heldAcks.length > 0 && outbox.queue.length < WINDOW / 2) this.#releaseAcks();
  }

  #ack(packet: AckPacket): void {
    const link = this.#link!;
    const outbox = this.#outbox;
    const id = packet.packetId;
    const code = packet.reasonCode ?? 0;
    if (packet.type === PacketType.PUBREL) {
      if (this.#awaitingRelease.delete(id)) this.#recordRelease(id, false);
      link.send(this.#encodeAck(PacketType.PUBCOMP, id), true);
      return;
    }
    const item = outbox.inflight.get(id);
    if (packet.type === PacketType.PUBREC) {
      if (item?.qos !== 2 || code >= 0x80) {
        if (item?.qos === 2) this.#refused(item, code);
        return;
      }
      if (!item.released) outbox.release(item);
      // After its record: the remote forgets the message at PUBREL, a PUBLISH again is new.
      link.send(this.#encodeAck(PacketType.PUBREL, id), true);
      return;
    }
    const expected = packet.type === PacketType.PUBACK ? 1 : 2;
    if (item?.qos !== expected) return;
    if (code >= 0x80 && !(packet.type === PacketType.PUBCOMP && code === PACKET_ID_NOT_FOUND)) {
      this.#refused(item, code);
      return;
    }
    outbox.remove(item);
    this.figures.forwardedOut++;
    this.#pump();
  }

  /** Refused by the remote: sending it again gets the same answer, so it is dropped, counted. */
  #refused(item: Pending, code: number): void {
    this.#outbox.remove(item);
    this.figures.dropped++;
    this.logger.warn(
      `bridge ${this.config.name}: the remote refused ${item.remote.topic} with reason 0x${
        code.toString(16)
      }`,
    );
    this.#pump();
  }

  #encodeAck(
    type:
      | typeof PacketType.PUBACK
      | typeof PacketType.PUBREC
      | typeof PacketType.PUBREL
      | typeof PacketType.PUBCOMP,
    id: number,
  ): Uint8Array {
    return this.config.protocol === 5 ? encodeAck5(type, id) : encodeAck(type, id);
  }

  #receive(packet: PublishPacket): void {
    const link = this.#link!;
    const id = packet.packetId;
    if (packet.qos === 2 && this.#awaitingRelease.has(id)) {
      link.send(this.#encodeAck(PacketType.PUBREC, id), true);
      return;
    }
    this.#route(packet);
    // Acknowledged after routing, and after the commit of what routing stored.
    if (packet.qos === 1) link.send(this.#encodeAck(PacketType.PUBACK, id), true);
    else if (packet.qos === 2) {
      this.#awaitingRelease.add(id);
      this.#recordRelease(id, true);
      link.send(this.#encodeAck(PacketType.PUBREC, id), true);
    }
  }

  /**
   * Writes the QoS 2 receive state through, as a session's: kept across a restart, a PUBLISH the
   * remote sends again after a crash (it had our PUBREC) is not routed twice.
   */
  #recordRelease(id: number, awaiting: boolean): void {
    const store = this.broker.store;
    if (!store.durable) return;
    const clientId = BRIDGE_SESSION_PREFIX + this.config.name;
    if (awaiting) store.receiveAdded(clientId, id);
    else store.receiveRemoved(clientId, id);
  }

  #route(packet: PublishPacket): void {
    const remote = packet.topic;
    const topic = incomingFor(this.config.topics, remote);
    if (topic === undefined) return;
    const payload = packet.payload;
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
      this.broker.route(
        new RoutedMessage(local, payload, qos, packet.retain, packet.properties),
        undefined,
      );
    } finally {
      this.#routingIn = false;
    }
    this.figures.forwardedIn++;
  }

  #connected(connack: Connack): void {
    const link = this.#link!;
    const outbox = this.#outbox;
    const version = this.config.protocol;
    if (this.#connections++ > 0) this.figures.reconnects++;
    this.#backoff = this.config.reconnectMinMs;
    this.#window = Math.min(WINDOW, connack.properties.receiveMaximum ?? WINDOW);
    this.#maxPacketSize = connack.properties.maximumPacketSize ?? Infinity;
    if (this.config.notifications) {
      link.send(this.#stateMessage(true));
    }
    const inflight = [...outbox.inflight.values()];
    if (connack.sessionPresent) {
      // The remote's session holds these: the same identifiers again, so none is taken twice.
      for (const item of inflight) {
        link.send(
          item.released
            ? this.#encodeAck(PacketType.PUBREL, item.packetId)
            : item.remote.encode(version, item.qos, item.retain, item.packetId, true),
          true,
        );
      }
    } else {
      for (const id of this.#awaitingRelease) this.#recordRelease(id, false);
      this.#awaitingRelease.clear();
      // A released one reached the remote; the rest go round again.
      for (const item of inflight) {
        if (item.released) {
          outbox.remove(item);
          this.figures.forwardedOut++;
        }
      }
      outbox.requeue(inflight.filter((item) => !item.released));
      if (this.#incoming.length > 0) {
        link.send(encodeSubscribe(SUBSCRIBE_ID, this.#incoming, version));
      }
    }
    this.figures.up = true;
    this.logger.info(`bridge ${this.config.name}: connected`);
    this.#notify(true);
    this.#pump();
  }

  #closed(reason: string, accepted: boolean): void {
    this.logger.debug(`bridge ${this.config.name}: ${reason}`);
    this.#link = undefined;
    this.#releaseAcks();
    if (this.figures.up) {
      this.figures.up = false;
      this.logger.info(`bridge ${this.config.name}: disconnected`);
      this.#notify(false);
    }
    // An address that did not accept us: the next one in the list.
    if (!accepted) this.#address = (this.#address + 1) % this.config.addresses.length;
    if (this.#stopped) return;
    // Full jitter over the upper half: attempts from many edges spread, and never come at once.
    const delay = this.#backoff / 2 + Math.random() * this.#backoff / 2;
    this.#backoff = Math.min(this.config.reconnectMaxMs, this.#backoff * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped) this.#connect();
    }, delay);
  }

  #notify(up: boolean): void {
    if (!this.config.notifications) return;
    const topic = `$SYS/broker/connection/${this.config.name}/state`;
    this.broker.route(new RoutedMessage(topic, up ? STATE_UP : STATE_DOWN, 1, true), undefined);
  }

  /** Disconnects from the remote and unsubscribes locally; leaves no timer or socket. */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    // What is in flight stays in flight: the next run resends it in the same remote session.
    // A DISCONNECT keeps the will from the remote, so the state there is said here.
    const link = this.#link;
    if (link?.up && this.config.notifications) link.send(this.#stateMessage(false));
    link?.send(DISCONNECT);
    link?.close("stopped", true);
    return Promise.resolve();
  }
}
