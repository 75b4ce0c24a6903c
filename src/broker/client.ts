/**
 * One network connection: reads and dispatches packets, batches output, and tracks the timers
 * (connect, keepalive, write) that the broker's sweep enforces.
 *
 * @module
 */
import { concatBytes } from "../protocol/bytes.ts";
import { Codec } from "../protocol/codec.ts";
import { PacketFramer } from "../protocol/framer.ts";
import {
  type ClientPacket,
  PacketType,
  ProtocolError,
  protocolError,
} from "../protocol/packets.ts";
import { ReasonCode, reasonName } from "../protocol/reason.ts";
import type { Connection } from "../runtime/types.ts";
import type { ClientInfo, DisconnectDetails, DisconnectReason } from "../plugins/types.ts";
import type { Authentication } from "./authentication.ts";
import type { BrokerContext } from "./context.ts";
import type { Session } from "./session.ts";
import { handleConnect } from "./handlers/connect.ts";
import { handlePublish } from "./handlers/publish.ts";
import { handlePuback } from "./handlers/puback.ts";
import { handlePubrec } from "./handlers/pubrec.ts";
import { handlePubrel } from "./handlers/pubrel.ts";
import { handlePubcomp } from "./handlers/pubcomp.ts";
import { handleSubscribe } from "./handlers/subscribe.ts";
import { handleUnsubscribe } from "./handlers/unsubscribe.ts";
import { handlePingreq } from "./handlers/pingreq.ts";
import { handleDisconnect } from "./handlers/disconnect.ts";
import { handleAuth, handleConnectAuth } from "./handlers/auth.ts";

/**
 * By packet type: the packets that promise the effect of what they answer is durable (CONNACK
 * with its session, PUBACK/PUBREC for a received message, PUBCOMP for a released receive state,
 * SUBACK/UNSUBACK), held while records wait for their commit. PUBLISH and PUBREL to the client
 * promise nothing and go at once unless behind one of them.
 */
const ACKNOWLEDGEMENTS: ReadonlySet<number> = new Set([
  PacketType.CONNACK,
  PacketType.PUBACK,
  PacketType.PUBREC,
  PacketType.PUBCOMP,
  PacketType.SUBACK,
  PacketType.UNSUBACK,
]);

/** How long a closing connection may take to flush its last bytes (e.g. a refusing CONNACK). */
const CLOSE_FLUSH_MS = 1000;

/**
 * The DISCONNECT reason code a 5.0 client is told when the broker closes it for `reason`; the
 * others (the client left, the socket failed, a refusal already answered by CONNACK, output
 * that is not moving anyway) close without one.
 */
const DISCONNECT_CODES: Partial<Record<DisconnectReason, number>> = {
  takeover: ReasonCode.SESSION_TAKEN_OVER,
  keepalive: ReasonCode.KEEP_ALIVE_TIMEOUT,
  shutdown: ReasonCode.SERVER_SHUTTING_DOWN,
  protocol: ReasonCode.PROTOCOL_ERROR,
  admin: ReasonCode.ADMINISTRATIVE_ACTION,
};

/** A client connection, from accept to close. */
export class Client {
  /** Set once CONNECT is accepted. */
  session: Session | undefined;
  info: ClientInfo | undefined;
  keepaliveMs = 0;
  /** Protocol version and per-connection protocol state. */
  readonly codec: Codec;
  /** When its CONNECT arrived, in the broker's CONNECT order (see `Broker.attach`). */
  connectSeq = 0;
  readonly acceptedAt: number = Date.now();
  /** When the last whole packet arrived, or the CONNECT was admitted. */
  lastRead: number = this.acceptedAt;
  /** The enhanced authentication exchange running, for its CONNECT or a re-authentication. */
  authentication: Authentication | undefined;
  /** The method a 5.0 client authenticated with in CONNECT, which re-authentication must use. */
  authMethod: string | undefined;
  /** The MQTT 5 DISCONNECT that ends the connection, for `broker_client_disconnected`. */
  disconnectDetails: DisconnectDetails | undefined;
  #closed = false;
  #connecting = false;
  readonly #framer: PacketFramer;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Output of this turn of the event loop, written as one chunk at its end. */
  #pending: Uint8Array[] = [];
  /** Bytes in {@link Client.#pending} and {@link Client.#held}. */
  #pendingBytes = 0;
  /**
   * Output from an acknowledgement on, waiting for the commit of what it acknowledges (see
   * {@link ACKNOWLEDGEMENTS}); what follows it waits too, so the stream keeps its order.
   */
  #held: Uint8Array[] | undefined;
  #heldBytes = 0;
  #flushQueued = false;
  /** Bytes handed to the writer that the network has not taken yet. */
  #writing = 0;
  #lastProgress = 0;
  #lastWrite: Promise<void> | undefined;
  /** Wakes the read loop, parked while the output backlog is over the bound. */
  #outputRoom: (() => void) | undefined;

  constructor(
    readonly broker: BrokerContext,
    readonly conn: Connection,
    readonly listener: string,
  ) {
    this.#framer = new PacketFramer(broker.config.limits.maxPacketSize);
    this.codec = new Codec(broker.config.limits.topicAliasMaximum);
    this.#writer = conn.writable.getWriter();
    this.#writer.closed.catch(() => this.close("error", "write failed"));
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A name for log lines. */
  get label(): string {
    const { hostname, port } = this.conn.remoteAddr;
    return `${this.info?.clientId ?? "(no CONNECT yet)"} from ${hostname}:${port}`;
  }

  /** Reads until the connection ends; never throws. */
  async run(): Promise<void> {
    const reader = this.conn.readable.getReader();
    const stats = this.broker.stats;
    try {
      while (!this.#closed) {
        const { value, done } = await reader.read();
        if (done || this.#closed) break;
        stats.bytesReceived += value.length;
        this.#framer.push(value);
        let frame: Uint8Array | undefined;
        let now = 0;
        while (!this.#closed && (frame = this.#framer.next())) {
          // Only whole packets prove the client alive: a packet dribbled a byte at a time does not.
          now ||= Date.now();
          this.lastRead = now;
          const pending = this.#dispatch(this.codec.decode(frame));
          if (pending) {
            await pending;
            now = 0;
          }
        }
        // A client that sends faster than it takes our answers (acks, PINGRESP) is not read again
        // until its backlog drains: backpressure on its socket rather than a growing buffer here.
        if (this.#pendingBytes + this.#writing > this.broker.config.limits.maxOutputBytes) {
          await new Promise<void>((resolve) => this.#outputRoom = resolve);
        }
      }
      this.close("closed");
    } catch (error) {
      if (error instanceof ProtocolError) this.close("protocol", error.message, error.code);
      else this.close("error", error instanceof Error ? error.message : String(error));
    } finally {
      reader.releaseLock();
    }
  }

  #dispatch(packet: ClientPacket): void | Promise<void> {
    this.broker.stats.messagesReceived++;
    if (!this.session) {
      if (this.authentication) return handleConnectAuth(this, this.authentication, packet);
      if (packet.type !== PacketType.CONNECT) {
        throw new ProtocolError(`packet type ${packet.type} before CONNECT`);
      }
      if (this.#connecting) throw new ProtocolError("second CONNECT");
      this.#connecting = true;
      return handleConnect(this, packet);
    }
    switch (packet.type) {
      case PacketType.PUBLISH:
        return handlePublish(this, packet);
      case PacketType.PUBACK:
        return handlePuback(this, packet);
      case PacketType.PUBREC:
        return handlePubrec(this, packet);
      case PacketType.PUBREL:
        return handlePubrel(this, packet);
      case PacketType.PUBCOMP:
        return handlePubcomp(this, packet);
      case PacketType.SUBSCRIBE:
        return handleSubscribe(this, packet);
      case PacketType.UNSUBSCRIBE:
        return handleUnsubscribe(this, packet);
      case PacketType.PINGREQ:
        return handlePingreq(this);
      case PacketType.DISCONNECT:
        return handleDisconnect(this, packet);
      case PacketType.CONNECT:
        throw protocolError("second CONNECT");
      case PacketType.AUTH:
        return handleAuth(this, packet);
    }
  }

  /** Whether `bytes` more fit in the output bound (always true for the first bytes). */
  canSend(bytes: number): boolean {
    const backlog = this.#pendingBytes + this.#writing;
    return backlog === 0 || backlog + bytes <= this.broker.config.limits.maxOutputBytes;
  }

  /** Queues bytes; they are written together at the end of this turn of the event loop. */
  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#pendingBytes += bytes.length;
    this.broker.stats.messagesSent++;
    if (
      this.#held || (ACKNOWLEDGEMENTS.has(bytes[0] >> 4) && this.broker.holdOutput(this.#release))
    ) {
      (this.#held ??= []).push(bytes);
      this.#heldBytes += bytes.length;
      return;
    }
    this.#pending.push(bytes);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  /** The commit came: the held output goes. */
  #release = (): void => {
    const held = this.#held;
    if (!held) return;
    this.#held = undefined;
    this.#heldBytes = 0;
    this.#pending.push(...held);
    this.#flush();
  };

  #flush = (): void => {
    this.#flushQueued = false;
    const count = this.#pending.length;
    if (count === 0) return;
    const size = this.#pendingBytes - this.#heldBytes;
    const data = count === 1 ? this.#pending[0] : concatBytes(this.#pending, size);
    this.#pending = [];
    this.#pendingBytes = this.#heldBytes;
    if (this.#writing === 0) this.#lastProgress = Date.now();
    this.#writing += size;
    this.broker.stats.bytesSent += size;
    this.#lastWrite = this.#writer.write(data).then(() => {
      this.#writing -= size;
      this.#lastProgress = Date.now();
      const wake = this.#outputRoom;
      if (wake && this.#pendingBytes + this.#writing <= this.broker.config.limits.maxOutputBytes) {
        this.#outputRoom = undefined;
        wake();
      }
      // Room again: queued QoS 1/2 messages may go now.
      if (!this.#closed) this.session?.pump();
    }, () => this.close("error", "write failed"));
  };

  /** Enforces the connect, keepalive and write timeouts; called by the broker's sweep. */
  checkTimers(now: number): void {
    const { limits, timeoutDisconnectDelayMs } = this.broker.config;
    // A client silent in an exchange of AUTH packets is as idle as one that sends no CONNECT.
    const exchange = this.authentication;
    if (exchange && now - exchange.startedAt > limits.connectTimeoutMs) {
      this.close(
        "timeout",
        `authentication not finished within ${limits.connectTimeoutMs} ms`,
        ReasonCode.NOT_AUTHORIZED,
      );
      return;
    }
    if (!this.session) {
      if (!this.#connecting && now - this.acceptedAt > limits.connectTimeoutMs) {
        this.close("timeout", `no CONNECT within ${limits.connectTimeoutMs} ms`);
      }
      return;
    }
    if (
      this.keepaliveMs > 0 &&
      now - this.lastRead > this.keepaliveMs * 1.5 + timeoutDisconnectDelayMs
    ) {
      this.close("keepalive", "keepalive expired");
      return;
    }
    if (this.#writing > 0 && now - this.#lastProgress > limits.writeTimeoutMs) {
      this.close("slow", `took no bytes for ${limits.writeTimeoutMs} ms`);
    }
  }

  /**
   * Ends the connection: a 5.0 client that completed CONNECT is told why by a DISCONNECT with
   * reason `code` (by default the one for `reason`, if any), the broker detaches the session
   * (publishing the will unless the client said DISCONNECT without one), pending output gets a
   * short chance to leave, then the socket closes. This is the one place where an error's reason
   * code becomes a DISCONNECT (5.0) or a mere close (3.1.1).
   */
  close(reason: DisconnectReason, detail?: string, code = DISCONNECT_CODES[reason]): void {
    if (this.#closed) return;
    // The detail says what the client did or what happens to it, so it is its reason string.
    const told = code !== undefined && this.session
      ? this.codec.disconnect(code, detail)
      : undefined;
    if (detail) {
      const why = told ? ` (DISCONNECT ${reasonName(code!)})` : "";
      this.broker.logger.debug(`closing ${this.label}: ${detail}${why}`);
    }
    if (told) {
      this.disconnectDetails ??= { reasonCode: code!, sentBy: "server" };
      this.send(told);
    }
    // Its last bytes go now, so what they acknowledge is committed now.
    this.broker.commit();
    this.#flush();
    this.#closed = true;
    this.authentication?.abort();
    this.#outputRoom?.();
    this.broker.detach(this, reason);
    const last = this.#lastWrite;
    if (!last || this.#writing === 0) {
      this.conn.close();
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_FLUSH_MS));
    Promise.race([last, waited]).finally(() => {
      clearTimeout(timer);
      this.conn.close();
    });
  }
}
