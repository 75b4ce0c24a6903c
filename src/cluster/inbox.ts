/**
 * This node's inbox: reads the QoS 1/2 batches other nodes appended to its stream, in order,
 * drops the messages it has seen (each origin's sequence numbers only grow), and writes back
 * how far it has read, so that senders can forget what it has and a restarted node with a
 * durable store resumes where it stopped. What it has read leaves the stream. While the local
 * subscribers it delivers to are backed up it stops, even within a batch, and reads on once they
 * have room: what it has not read waits in Redis, and the senders hold their publishers'
 * acknowledgements as its unread backlog grows (see the outbox).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import { decodeBatch, type Frame } from "./frame.ts";
import { inbox, offsets } from "./keys.ts";
import type { ClusterCounters } from "./outbox.ts";

/** Batches read per call. */
const COUNT = 64;
/** How long one blocking read waits, in ms; closing does not wait for it. */
const BLOCK_MS = 2000;
/** The wait before reading again after a failure, in ms (the connection has its own backoff). */
const RETRY_MS = 200;
/** How often a stopped inbox looks whether its subscribers have room again, in ms. */
const BACKED_UP_POLL_MS = 5;

/** Reads the stream of one node. */
export class Inbox {
  readonly #key: string;
  /** By origin (a node's run): the last sequence number delivered. */
  readonly #seen: Map<string, number>;
  #lastId: string;
  /** The entry after `#lastId`, when reading stopped within it: its first frames were delivered. */
  #partial: string | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;

  constructor(
    readonly reader: Redis,
    readonly writer: Redis,
    readonly node: string,
    start: { lastId: string; seen: Map<string, number> },
    readonly deliver: (frame: Frame) => void,
    readonly backedUp: () => boolean,
    readonly counters: ClusterCounters,
    readonly logger: Logger,
  ) {
    this.#key = inbox(node);
    this.#lastId = start.lastId;
    this.#seen = start.seen;
  }

  /** Starts reading. */
  start(): void {
    this.#running = this.#loop();
  }

  /** Stops reading; resolves once the loop has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.reader.disconnect();
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      if (this.backedUp()) {
        await this.#sleep(BACKED_UP_POLL_MS);
        continue;
      }
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = await this.reader.xreadBuffer(
          "COUNT",
          COUNT,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          this.#key,
          this.#lastId,
        );
      } catch {
        if (this.#closed) return;
        await this.#sleep(RETRY_MS);
        continue;
      }
      if (!reply || this.#closed) continue;
      const touched = new Set<string>();
      read: for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          const entry = id.toString();
          if (!this.#take(entry, fields, touched)) {
            this.#partial = entry;
            break read;
          }
          this.#partial = undefined;
          this.#lastId = entry;
          // The rest of the reply is read again once there is room.
          if (this.backedUp()) break read;
        }
      }
      const progress: string[] = ["id", this.#lastId];
      for (const origin of touched) progress.push(origin, String(this.#seen.get(origin)));
      this.writer.hset(offsets(this.node), ...progress).catch(() => {});
      // What is read goes: the stream holds only what this node has still to read.
      this.writer.xtrim(this.#key, "MINID", this.#lastId).catch(() => {});
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Delivers the new messages of one entry; false when the subscribers got backed up before its
   * last one, which is then read again (the ones delivered are skipped by their numbers).
   */
  #take(entry: string, fields: Buffer[], touched: Set<string>): boolean {
    let origin: string | undefined;
    let batch: Buffer | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i].toString();
      if (name === "o") origin = fields[i + 1].toString();
      else if (name === "b") batch = fields[i + 1];
    }
    if (origin === undefined || batch === undefined) return true;
    let frames: Frame[];
    try {
      frames = decodeBatch(batch);
    } catch (error) {
      this.logger.warn(`cluster: an unreadable batch from ${origin}: ${(error as Error).message}`);
      return true;
    }
    // Frames of an entry read in part before are not duplicates sent again.
    const resumed = entry === this.#partial;
    let seen = this.#seen.get(origin) ?? 0;
    let whole = true;
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i];
      if (frame.seq <= seen) {
        if (!resumed) this.counters.duplicates++;
        continue;
      }
      seen = frame.seq;
      if (frame.marker === undefined) {
        this.counters.messagesIn++;
        frame.message.clusterOrigin = origin;
        frame.message.clusterSeq = frame.seq;
      }
      this.deliver(frame);
      if (i + 1 < frames.length && this.backedUp()) {
        whole = false;
        break;
      }
    }
    this.#seen.set(origin, seen);
    touched.add(origin);
    return whole;
  }
}
