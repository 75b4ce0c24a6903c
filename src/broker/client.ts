/**
 * One network connection: reads and dispatches packets, batches output, and tracks the timers
 * (connect, keepalive, write) that the broker's {@link Deadlines} enforce.
 *
 * @module
 */
import { HeldOutput } from "./held_output.ts";
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
import type { ByteChannel, ByteListener, Connection } from "../runtime/types.ts";
import { endOfTurn, nextTurn, PACKETS_PER_TURN, sliceDue } from "../runtime/turn.ts";
import { connectNow } from "./admission.ts";
import type { Listed } from "./connection_list.ts";
import type { Timed } from "./deadlines.ts";
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

/**
 * Whether the packets being handled are a later slice of a connection's burst (see
 * `PACKETS_PER_TURN`): a publisher's chunk of hundreds of packets, handled whole, would hold up
 * every other connection, among them the subscriber whose PUBACKs open its window for more. What
 * later slices send waits for the end of the turn, so a turn's slices still make one write per
 * connection; what the first sends goes as soon as the code running now is done.
 */
let laterSlice = false;

/**
 * Bytes read and not yet handled past which reading stops, while a packet's handling waits or
 * the connection waits for its turn.
 */
const MAX_UNREAD_BYTES = 64 * 1024;

/** Output worth a write of its own: it goes without waiting for the end of the turn. */
const WRITE_AT_ONCE_BYTES = 16 * 1024;

/**
 * What {@link Client.#pending} is while nothing is pending, so that an idle connection holds no
 * array of its own; never added to (`send` replaces it first).
 */
const NO_OUTPUT: Uint8Array[] = [];

/** The bits of `Client.#flags`. */
const Flag = {
  CLOSED: 1,
  /** `close` has begun: what is queued stays queued for the session. */
  CLOSING: 2,
  /** Its CONNECT is being handled. */
  CONNECTING: 4,
  /** Handling waits for a packet's handler or for the next turn: bytes read meanwhile wait. */
  BUSY: 8,
  /** Reading stopped: too many bytes unread, or too much output not taken. */
  PAUSED: 16,
  /** The peer sent its last byte. */
  ENDED: 32,
  /** A flush waits for the end of the turn. */
  FLUSH_QUEUED: 64,
  /** A flush waits for the code running now (enough output for a write of its own). */
  FLUSH_SOON: 128,
  /** Closed after the client's DISCONNECT (see `Connection.close`). */
  PEER_DONE: 256,
} as const;
type Flag = (typeof Flag)[keyof typeof Flag];

/** A client connection, from accept to close. */
export class Client implements ByteListener, Timed, Listed {
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
  /** The MQTT 5 DISCONNECT that ends the connection, for `broker_client_disconnected`. */
  disconnectDetails: DisconnectDetails | undefined;
  /** The method a 5.0 client authenticated with in CONNECT, which re-authentication must use. */
  authMethod: string | undefined;
  /** Its bucket in the broker's {@link Deadlines}, and its index there. */
  dueBucket = 0;
  dueIndex = 0;
  /** Its place among the broker's connections (see {@link ConnectionList}). */
  listIndex = -1;
  #authentication: Authentication | undefined;
  /**
   * The connection's yes/no states as bits of one number (see {@link Flag}) rather than a field
   * each: one slot instead of nine in every connection.
   */
  #flags = 0;
  /**
   * Bytes read and not handled yet. Made when bytes arrive and let go once all of them were
   * handled: an idle connection holds none.
   */
  #framer: PacketFramer | undefined;
  readonly #channel: ByteChannel;
  /** Output of this turn of the event loop, written as one chunk at its end. */
  #pending: Uint8Array[] = NO_OUTPUT;
  /** Bytes in {@link Client.#pending} and {@link Client.#held}. */
  #pendingBytes = 0;
  /**
   * Output from an acknowledgement on, waiting for the commit of what it acknowledges (see
   * {@link ACKNOWLEDGEMENTS}); what follows it waits too, so the stream keeps its order. Made
   * when output first has to wait: without a store that commits, none ever does.
   */
  #held: HeldOutput | undefined;
  /** Bytes of the last write, which the runtime has not taken yet (it returned false). */
  #writing = 0;
  #lastProgress = 0;
  /** Closing, with output still to leave: the socket closes at the latest when this fires. */
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly broker: BrokerContext,
    readonly conn: Connection,
    readonly listener: string,
  ) {
    this.codec = new Codec(broker.config.limits.topicAliasMaximum);
    this.#channel = conn.open(this);
    // Checked every tick until its CONNECT is admitted, which sets its keepalive.
    broker.deadlines.schedule(this, this.acceptedAt);
  }

  #is(flag: Flag): boolean {
    return (this.#flags & flag) !== 0;
  }

  #set(flag: Flag, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag;
  }

  get #closed(): boolean {
    return this.#is(Flag.CLOSED);
  }
  set #closed(on: boolean) {
    this.#set(Flag.CLOSED, on);
  }
  get #closing(): boolean {
    return this.#is(Flag.CLOSING);
  }
  set #closing(on: boolean) {
    this.#set(Flag.CLOSING, on);
  }
  get #connecting(): boolean {
    return this.#is(Flag.CONNECTING);
  }
  set #connecting(on: boolean) {
    this.#set(Flag.CONNECTING, on);
  }
  get #busy(): boolean {
    return this.#is(Flag.BUSY);
  }
  set #busy(on: boolean) {
    this.#set(Flag.BUSY, on);
  }
  get #paused(): boolean {
    return this.#is(Flag.PAUSED);
  }
  set #paused(on: boolean) {
    this.#set(Flag.PAUSED, on);
  }
  get #ended(): boolean {
    return this.#is(Flag.ENDED);
  }
  set #ended(on: boolean) {
    this.#set(Flag.ENDED, on);
  }
  get #flushQueued(): boolean {
    return this.#is(Flag.FLUSH_QUEUED);
  }
  set #flushQueued(on: boolean) {
    this.#set(Flag.FLUSH_QUEUED, on);
  }
  get #flushSoon(): boolean {
    return this.#is(Flag.FLUSH_SOON);
  }
  set #flushSoon(on: boolean) {
    this.#set(Flag.FLUSH_SOON, on);
  }
  get #peerDone(): boolean {
    return this.#is(Flag.PEER_DONE);
  }
  set #peerDone(on: boolean) {
    this.#set(Flag.PEER_DONE, on);
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The enhanced authentication exchange running, for its CONNECT or a re-authentication. */
  get authentication(): Authentication | undefined {
    return this.#authentication;
  }

  set authentication(exchange: Authentication | undefined) {
    this.#authentication = exchange;
    if (exchange) {
      this.broker.deadlines.schedule(
        this,
        exchange.startedAt + this.broker.config.limits.connectTimeoutMs,
      );
    }
  }

  /** A name for log lines. */
  get label(): string {
    const { hostname, port } = this.conn.remoteAddr;
    return `${this.info?.clientId ?? "(no CONNECT yet)"} from ${hostname}:${port}`;
  }

  /** Bytes the peer sent: handled at once, unless earlier ones are still waiting. */
  onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.broker.stats.bytesReceived += chunk.length;
    const framer = this.#framer ??= new PacketFramer(this.broker.config.limits.maxPacketSize);
    framer.push(chunk);
    if (!this.#busy) this.#read();
    else if (framer.buffered > MAX_UNREAD_BYTES) this.#pause();
  }

  onEnd(): void {
    this.#ended = true;
    if (!this.#busy) this.close("closed");
  }

  onDrain(): void {
    this.#writing = 0;
    this.#lastProgress = Date.now();
    if (this.#closed) return this.#closeFlushed();
    this.#resumeIfRoom();
    // Room again: what waited goes, and with it queued QoS 1/2 and retained messages.
    if (this.#pending.length > 0) this.#flush();
    else this.session?.pump();
  }

  onClose(): void {
    clearTimeout(this.#closeTimer);
    this.close("closed");
  }

  /**
   * Handles the whole packets read so far, {@link PACKETS_PER_TURN} PUBLISHes at a time when
   * `sliceDue` (always on Node and Bun), until one's handler is pending, the connection closes,
   * or none is left.
   */
  #read(granted = false): void {
    // A new connection's CONNECT waits when this turn's slice for CONNECTs is spent (see
    // admission.ts): the packets of connected clients go first.
    if (
      !granted && !this.#connecting && !this.session && !this.#authentication &&
      !connectNow(() => this.#connectTurn())
    ) {
      this.#busy = true;
      return;
    }
    const framer = this.#framer;
    let budget = PACKETS_PER_TURN;
    let now = 0;
    try {
      let frame: Uint8Array | undefined;
      while (framer && !this.#closed && (frame = framer.next())) {
        // Only whole packets prove the client alive: a packet dribbled a byte at a time does not.
        now ||= Date.now();
        this.lastRead = now;
        const publish = frame[0] >> 4 === PacketType.PUBLISH;
        const pending = this.#dispatch(this.codec.decode(frame));
        if (pending) return this.#wait(pending);
        // Only PUBLISHes spend the budget: a subscriber's PUBACKs are cheap and are what refills
        // its window, so a chunk of them is read whole, not a slice per turn behind publishers.
        if (publish && --budget <= 0 && framer.buffered > 0 && sliceDue()) {
          return this.#wait(nextTurn(), true);
        }
      }
    } catch (error) {
      return this.#fail(error);
    }
    if (framer?.buffered === 0) this.#framer = undefined;
    if (this.#closed) return;
    if (this.#ended) return this.close("closed");
    this.#resumeIfRoom();
  }

  /** Its CONNECT's turn came (see `connectNow`). */
  #connectTurn(): void {
    this.#busy = false;
    if (!this.#closed) this.#read(true);
  }

  /** Handles the rest once `pending` settles; `slice`: it is the next turn (see `laterSlice`). */
  #wait(pending: Promise<void>, slice = false): void {
    this.#busy = true;
    if ((this.#framer?.buffered ?? 0) > MAX_UNREAD_BYTES) this.#pause();
    pending.then(() => {
      this.#busy = false;
      if (this.#closed) return;
      laterSlice = slice;
      try {
        this.#read();
      } finally {
        laterSlice = false;
      }
    }, (error) => this.#fail(error));
  }

  #fail(error: unknown): void {
    if (error instanceof ProtocolError) this.close("protocol", error.message, error.code);
    else this.close("error", error instanceof Error ? error.message : String(error));
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#channel.pause();
  }

  /**
   * Reads again once nothing waits and the output backlog is within its bound: a client that
   * sends faster than it takes our answers (acks, PINGRESP) is not read until its backlog
   * drains, backpressure on its socket rather than a growing buffer here.
   */
  #resumeIfRoom(): void {
    if (this.#busy || this.#closed) return;
    if (this.#pendingBytes + this.#writing > this.broker.config.limits.maxOutputBytes) {
      return this.#pause();
    }
    if (!this.#paused) return;
    this.#paused = false;
    this.#channel.resume();
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

  /**
   * Queues bytes; they are written together once the code running now is done, or, sent from a
   * later slice of a burst, at the end of the turn unless {@link WRITE_AT_ONCE_BYTES} are queued.
   */
  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#pendingBytes += bytes.length;
    this.broker.stats.messagesSent++;
    const promise = ACKNOWLEDGEMENTS.has(bytes[0] >> 4);
    if ((promise || this.#held?.holding) && this.#hold(bytes, promise)) return;
    if (this.#pending === NO_OUTPUT) this.#pending = [bytes];
    else this.#pending.push(bytes);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      const flush = () => {
        this.#flushQueued = false;
        this.#flush();
      };
      if (laterSlice) endOfTurn(flush);
      else queueMicrotask(flush);
    }
    if (!this.#flushSoon && this.#pendingBytes - this.#heldBytes >= WRITE_AT_ONCE_BYTES) {
      this.#flushSoon = true;
      queueMicrotask(() => {
        this.#flushSoon = false;
        this.#flush();
      });
    }
  }

  /** Holds `bytes` for a commit if they must wait (see {@link HeldOutput.take}). */
  #hold(bytes: Uint8Array, promise: boolean): boolean {
    const broker = this.broker;
    // The release is made only when a commit is waited for, which few connections ever do.
    const hold = () => broker.holdOutput(() => this.#release());
    if (this.#held) return this.#held.take(bytes, promise, broker.pendingCommit, hold);
    if (!hold()) return false;
    this.#held = new HeldOutput();
    return this.#held.take(bytes, promise, broker.pendingCommit, () => true);
  }

  /** Bytes of {@link Client.#pendingBytes} held for a commit. */
  get #heldBytes(): number {
    return this.#held?.bytes ?? 0;
  }

  /** A commit came: the output held for it goes. */
  #release(): void {
    const held = this.#held?.release() ?? [];
    if (held.length === 0) return;
    this.#pending = this.#pending.concat(held);
    // Closing: its last bytes waited for this commit, and the socket for them.
    if (this.#closed) {
      if (this.#writing === 0) this.#closeFlushed();
      return;
    }
    this.#flush();
  }

  #flush(): void {
    // One write at a time: the rest waits for the runtime to take it (see `onDrain`).
    if (this.#writing > 0 || this.#closed) return;
    const count = this.#pending.length;
    if (count === 0) return;
    const size = this.#pendingBytes - this.#heldBytes;
    const data = count === 1 ? this.#pending[0] : concatBytes(this.#pending, size);
    this.#pending = NO_OUTPUT;
    this.#pendingBytes = this.#heldBytes;
    this.broker.stats.bytesSent += size;
    let taken: boolean;
    try {
      taken = this.#channel.write(data);
    } catch {
      // Closed under us (a no-op when `close` itself is flushing).
      return this.close("error", "write failed");
    }
    // Room again: queued QoS 1/2 messages and retained ones may go now.
    if (taken) {
      if (this.#closing) return;
      // Room again: reading, if the backlog had stopped it, and queued or retained messages.
      this.#resumeIfRoom();
      this.session?.pump();
      return;
    }
    this.#writing = size;
    this.#lastProgress = Date.now();
    this.broker.deadlines.schedule(
      this,
      this.#lastProgress + this.broker.config.limits.writeTimeoutMs,
    );
  }

  /**
   * Enforces the connect, keepalive and write timeouts (see {@link Deadlines}); returns when
   * the next of them is due.
   */
  checkTimers(now: number): number {
    if (this.#closed) return Infinity;
    const { limits, timeoutDisconnectDelayMs } = this.broker.config;
    // A client silent in an exchange of AUTH packets is as idle as one that sends no CONNECT.
    const exchange = this.#authentication;
    if (exchange && now - exchange.startedAt > limits.connectTimeoutMs) {
      this.close(
        "timeout",
        `authentication not finished within ${limits.connectTimeoutMs} ms`,
        ReasonCode.NOT_AUTHORIZED,
      );
      return Infinity;
    }
    if (!this.session) {
      if (!this.#connecting && now - this.acceptedAt > limits.connectTimeoutMs) {
        this.close("timeout", `no CONNECT within ${limits.connectTimeoutMs} ms`);
        return Infinity;
      }
      // Until admitted: looked at every tick, as few connections are at once.
      return now;
    }
    let due = exchange ? exchange.startedAt + limits.connectTimeoutMs : Infinity;
    if (this.keepaliveMs > 0) {
      const expires = this.lastRead + this.keepaliveMs * 1.5 + timeoutDisconnectDelayMs;
      if (now > expires) {
        this.close("keepalive", "keepalive expired");
        return Infinity;
      }
      if (expires < due) due = expires;
    }
    if (this.#writing > 0) {
      const stuck = this.#lastProgress + limits.writeTimeoutMs;
      if (now > stuck) {
        this.close("slow", `took no bytes for ${limits.writeTimeoutMs} ms`);
        return Infinity;
      }
      if (stuck < due) due = stuck;
    }
    return due;
  }

  /**
   * Ends the connection: a 5.0 client that completed CONNECT is told why by a DISCONNECT with
   * reason `code` (by default the one for `reason`, if any), the broker detaches the session
   * (publishing the will unless the client said DISCONNECT without one), pending output gets a
   * short chance to leave, then the socket closes. This is the one place where an error's reason
   * code becomes a DISCONNECT (5.0) or a mere close (3.1.1).
   */
  close(reason: DisconnectReason, detail?: string, code = DISCONNECT_CODES[reason]): void {
    if (this.#closing) return;
    this.#closing = true;
    // The detail says what the client did or what happens to it, so it is its reason string.
    const told = code !== undefined && this.session
      ? this.codec.disconnect(code, detail)
      : undefined;
    if (detail && this.broker.logger.debugEnabled) {
      const why = told ? ` (DISCONNECT ${reasonName(code!)})` : "";
      this.broker.logger.debug(`closing ${this.label}: ${detail}${why}`);
    }
    if (told) {
      this.disconnectDetails ??= { reasonCode: code!, sentBy: "server" };
      this.send(told);
    }
    // What its last bytes acknowledge is committed now; they go when the commit reports, if it
    // does before the socket's time to flush runs out.
    this.broker.commit();
    this.#flush();
    this.#closed = true;
    // Its timeouts are over; left in its bucket it would stay alive until the bucket's tick.
    this.broker.deadlines.cancel(this);
    this.#authentication?.abort();
    this.broker.detach(this, reason);
    // After its DISCONNECT the client sends nothing more: the adapter may drop the socket at once.
    this.#peerDone = reason === "disconnect";
    if (this.#writing === 0 && !this.#held?.holding) {
      this.conn.close(this.#peerDone);
      return;
    }
    this.#closeTimer = setTimeout(() => this.conn.close(this.#peerDone), CLOSE_FLUSH_MS);
  }

  /** Closing, the runtime took the last write: what queued behind it goes, then the socket. */
  #closeFlushed(): void {
    const pending = this.#pending;
    if (pending.length > 0) {
      this.#pending = NO_OUTPUT;
      const size = this.#pendingBytes - this.#heldBytes;
      this.#pendingBytes = this.#heldBytes;
      const data = pending.length === 1 ? pending[0] : concatBytes(pending, size);
      try {
        // Not taken whole: the next drain, or the timer, closes.
        if (!this.#channel.write(data)) return;
      } catch {
        // Closed meanwhile: nothing more to send.
      }
    }
    // Output held for a commit goes when it reports, or the timer closes without it.
    if (this.#held?.holding) return;
    clearTimeout(this.#closeTimer);
    this.conn.close(this.#peerDone);
  }
}
