/**
 * One connection of a bridge to one remote address, at the packet level: CONNECT and CONNACK,
 * keepalive, the packets of a turn of the event loop written together, and those that promise
 * something stored held until the local store committed it. What the packets
 * mean is the bridge's (bridge.ts).
 *
 * @module
 */
import { HeldOutput } from "../broker/held_output.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { decodePacket } from "../protocol/decode.ts";
import { PacketFramer } from "../protocol/framer.ts";
import { type AckPacket, PacketType, type PublishPacket } from "../protocol/packets.ts";
import {
  type Connack,
  type ConnectFields,
  decodeConnack,
  decodeSuback,
  encodeConnect,
  PINGREQ,
} from "./wire.ts";
import { openTransport, type Transport, type TransportTls } from "./transport.ts";

/** How long the remote has to answer CONNECT, as MQTT.js's default. */
const CONNECT_TIMEOUT_MS = 30_000;

/** What a link reports to its bridge. */
export interface LinkEvents {
  /** The remote accepted the CONNECT. */
  up(connack: Connack): void;
  publish(packet: PublishPacket): void;
  ack(packet: AckPacket): void;
  suback(codes: number[]): void;
  /** The connection ended (once); `accepted` says whether `up` came first. */
  down(reason: string, accepted: boolean): void;
}

/** A connection to the remote; ends by itself or by {@link Link.close}. */
export class Link {
  readonly #transport: Transport;
  readonly #framer = new PacketFramer(Number.MAX_SAFE_INTEGER);
  #out: Uint8Array[] = [];
  #outBytes = 0;
  /** Output from a held acknowledgement on, waiting for the local commit. */
  readonly #held = new HeldOutput();
  #accepted = false;
  #closed = false;
  #lastRead = Date.now();
  #lastSent = Date.now();
  #timer: ReturnType<typeof setInterval> | ReturnType<typeof setTimeout> | undefined;

  /**
   * @param hold asks whether output must wait for a local commit, and registers the release
   * @param pendingCommit numbers the commit output held now waits for (`BridgeSeam.pendingCommit`)
   */
  constructor(
    address: string,
    secrets: TransportTls | undefined,
    readonly connect: ConnectFields,
    readonly events: LinkEvents,
    readonly hold: (release: () => void) => boolean,
    readonly pendingCommit: () => number,
  ) {
    this.#timer = setTimeout(() => this.close("no CONNACK in time"), CONNECT_TIMEOUT_MS);
    this.#transport = openTransport(address, secrets, {
      open: () => this.send(encodeConnect(connect)),
      data: (chunk) => this.#data(chunk),
      closed: (reason) => this.#ended(reason),
    });
  }

  /** Whether the remote accepted the connection and it is still open. */
  get up(): boolean {
    return this.#accepted && !this.#closed;
  }

  /**
   * Queues a packet; a turn's packets are written together. One that promises something stored
   * (`durable`: an acknowledgement, or a PUBLISH or PUBREL whose state was recorded) waits for
   * the local commit, and everything after it waits too.
   */
  send(bytes: Uint8Array, durable = false): void {
    if (this.#closed) return;
    if (
      (durable || this.#held.holding) &&
      this.#held.take(bytes, durable, this.pendingCommit(), () => this.hold(this.#release))
    ) return;
    this.#queue(bytes);
  }

  #queue(bytes: Uint8Array): void {
    if (this.#out.length === 0) queueMicrotask(this.#flush);
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
  }

  #release = (): void => {
    for (const bytes of this.#held.release()) this.#queue(bytes);
  };

  #flush = (): void => {
    const out = this.#out;
    if (out.length === 0) return;
    this.#transport.write(out.length === 1 ? out[0] : concatBytes(out, this.#outBytes));
    this.#out = [];
    this.#outBytes = 0;
    this.#lastSent = Date.now();
  };

  #data(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.#lastRead = Date.now();
    try {
      this.#framer.push(chunk);
      let frame: Uint8Array | undefined;
      while (!this.#closed && (frame = this.#framer.next())) this.#packet(frame);
    } catch (error) {
      this.close(`protocol error from the remote: ${(error as Error).message}`);
    }
  }

  #packet(frame: Uint8Array): void {
    const version = this.connect.version;
    const type = frame[0] >> 4;
    if (!this.#accepted) {
      if (type !== PacketType.CONNACK) throw new Error(`packet type ${type} before CONNACK`);
      const connack = decodeConnack(frame, version);
      if (connack.code !== 0) {
        this.close(`the remote refused the connection with code 0x${connack.code.toString(16)}`);
        return;
      }
      this.#accepted = true;
      clearTimeout(this.#timer);
      this.#keepalive(connack.properties.serverKeepAlive ?? this.connect.keepalive);
      this.events.up(connack);
      return;
    }
    switch (type) {
      case PacketType.SUBACK:
        this.events.suback(decodeSuback(frame, version));
        return;
      case PacketType.PINGRESP:
      case PacketType.UNSUBACK:
        return;
    }
    const packet = decodePacket(frame, version);
    if (packet.type === PacketType.PUBLISH) this.events.publish(packet);
    else if (
      packet.type === PacketType.PUBACK || packet.type === PacketType.PUBREC ||
      packet.type === PacketType.PUBREL || packet.type === PacketType.PUBCOMP
    ) this.events.ack(packet);
    else if (packet.type === PacketType.DISCONNECT) {
      this.close(`the remote disconnected with reason 0x${(packet.reasonCode ?? 0).toString(16)}`);
    } else throw new Error(`unexpected packet type ${type}`);
  }

  /** PINGREQ when nothing was sent for half the interval; gone after one and a half silent. */
  #keepalive(seconds: number): void {
    if (seconds === 0) return;
    const ms = seconds * 1000;
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (now - this.#lastRead > ms * 1.5) this.close("keepalive: the remote went silent");
      else if (now - this.#lastSent >= ms / 2) this.send(PINGREQ);
    }, ms / 2);
  }

  /**
   * Ends the connection at once; `graceful` lets the output queued this turn reach the network
   * first.
   */
  close(reason: string, graceful = false): void {
    if (this.#closed) return;
    this.#flush();
    this.#ended(reason);
    this.#transport.close(graceful);
  }

  #ended(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    this.#held.clear();
    this.events.down(reason, this.#accepted);
  }
}
