/**
 * Sessions across nodes: before a CONNECT attaches, its node claims the client id's lease (see
 * lease.ts); when the client resumes a session that another live node holds, it asks that node
 * on its channel. The old node closes the connection and answers with the session's
 * subscriptions; the new node takes in what they match for the session and broadcasts a barrier
 * after their announcements, and every node, hearing it, sends the old node a marker behind what
 * it sent there before. Once the old node has read them all, it writes the session to Redis
 * fenced by the new epoch (so that it lands only if nobody claimed the id since), with the last
 * message number it saw per origin, and answers; the new node reads it and resumes it, with what
 * it took in that the old node had not. When no live node holds the session (its node died, or stopped and
 * dropped its leases) and it is not in memory here, the new node reads the copy Redis keeps of
 * it (mirror.ts), fenced by its new epoch; so it does when the old node does not answer within
 * `cluster.handover-timeout`. No copy either: a new session, logged.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { ClaimOutcome, ClusterSeam, HandedSubscriptions } from "../broker/cluster_seam.ts";
import type { ClientInfo } from "../plugins/types.ts";
import type { Logger } from "../log.ts";
import { ReasonCode } from "../protocol/reason.ts";
import { decodeSession, encodeSession } from "./handover.ts";
import { decodeMirrored } from "./mirrored.ts";
import { Leases } from "./lease.ts";
import * as keys from "./keys.ts";

/** A request for a session, or the answer to one, on a node's sessions channel. */
interface Message {
  /** `ask` (from the new holder), `subs` and then `done` (from the old one). */
  t: "ask" | "subs" | "done";
  /** Client id. */
  c: string;
  /** The new holder's epoch. */
  e: number;
  /** The sender. */
  n: string;
  /** ask: the user name of the new connection; done: unused. */
  u?: string | null;
  /** done: whether the session is in Redis for epoch `e`. */
  ok?: boolean;
  /** subs: the session's subscriptions. */
  s?: HandedSubscriptions;
}

/** A claim of this node waiting for an answer. */
interface Waiting {
  readonly epoch: number;
  readonly info: ClientInfo;
  /** Another node claimed the id after this one: this CONNECT lost the race. */
  superseded: boolean;
  answer?: (handed: boolean | "timeout") => void;
}

/** A session this node is handing over, waiting for every node's marker. */
interface Leaving {
  readonly epoch: number;
  readonly to: string;
  readonly username: string | undefined;
  /** The nodes whose marker has still to come; undefined until the barrier was heard. */
  waiting: Set<string> | undefined;
  /** Markers that came before the barrier (the inbox and pub/sub are two ways). */
  readonly early: Set<string>;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** `<node> <epoch> <client id>`, as barriers and markers name a session on its way. */
function parseMark(text: string): { node: string; epoch: number; id: string } {
  const node = text.slice(0, text.indexOf(" "));
  const rest = text.slice(node.length + 1);
  const space = rest.indexOf(" ");
  return { node, epoch: Number(rest.slice(0, space)), id: rest.slice(space + 1) };
}

/** How long a handed session waits in Redis for its new node, in ms. */
const HANDOVER_TTL_MS = 60_000;

/** Leases and handovers of one node. */
export class Sessions {
  readonly leases: Leases;
  /** By client id: claims of this node not yet decided. */
  readonly #waiting = new Map<string, Waiting>();
  /** By client id: sessions this node is handing over. */
  readonly #leaving = new Map<string, Leaving>();
  /** Whether a failed lease operation was logged since the last one that worked. */
  #failureLogged = false;

  constructor(
    readonly cmd: Redis,
    readonly node: string,
    readonly host: ClusterSeam,
    readonly timeoutMs: number,
    readonly logger: Logger,
  ) {
    this.leases = new Leases(cmd, node);
  }

  /** See {@link ClusterBus.claim}. */
  async claim(info: ClientInfo, resume: boolean, held: boolean): Promise<ClaimOutcome> {
    const id = info.clientId;
    let claim;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // A Redis that takes commands and never answers must not hold the CONNECT for ever.
      claim = await Promise.race([
        this.leases.claim(id, info.username, held, !resume),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer")), this.timeoutMs);
        }),
      ]);
      this.#failureLogged = false;
    } catch (error) {
      this.#failed(`cannot take the lease of client id ${id}`, error);
      return {};
    } finally {
      clearTimeout(timer);
    }
    if (!claim.granted) {
      const owner = claim.owner ? JSON.stringify(claim.owner) : "anonymous";
      const user = info.username ? JSON.stringify(info.username) : "anonymous";
      return {
        refusal: {
          code: ReasonCode.NOT_AUTHORIZED,
          why: `client id ${id} belongs to ${owner} on another node, not ${user}`,
        },
      };
    }
    const { epoch, previous, previousAlive } = claim;
    // A clean start needs nothing of the old node: the broadcast of `attached` closes its
    // connection there and ends its session (and the claim deleted its copy).
    if (!resume) return {};
    if (previous === undefined || !previousAlive) {
      return held ? {} : await this.#fromCopy(id, epoch, previous);
    }
    const waiting: Waiting = { epoch, info, superseded: false };
    this.#waiting.set(id, waiting);
    try {
      const handed = await this.#ask(previous, id, epoch, info.username, waiting);
      if (waiting.superseded) return this.#lostRace(id);
      if (handed === "timeout") return await this.#fromCopy(id, epoch, previous);
      if (!handed) return {};
      return await this.#take(id, epoch, previous);
    } finally {
      if (this.#waiting.get(id) === waiting) this.#waiting.delete(id);
    }
  }

  /**
   * The session as the copy in Redis has it, read under `epoch` (so never one written since by
   * a node that claimed the id after this one); nothing when there is none.
   */
  async #fromCopy(id: string, epoch: number, previous: string | undefined): Promise<ClaimOutcome> {
    try {
      const fields = await this.leases.readSession(id, epoch);
      if (fields) {
        const of = previous ? ` of node ${previous}, which is down,` : "";
        this.logger.info(
          `cluster: client id ${id} resumes its session${of} from its copy in Redis`,
        );
        return { session: decodeMirrored(id, fields) };
      }
    } catch (error) {
      this.#failed(`cannot read the copy of the session of client id ${id}`, error);
      return {};
    }
    if (previous !== undefined) {
      this.logger.warn(
        `cluster: client id ${id} held a session on node ${previous}, and Redis has no copy of ` +
          `it; it starts a new session here`,
      );
    }
    return {};
  }

  #lostRace(id: string): ClaimOutcome {
    return {
      refusal: {
        code: ReasonCode.SERVER_BUSY,
        why: `a newer connection with client id ${id} was admitted on another node first`,
        reason: "a newer connection with this client id was admitted first",
      },
    };
  }

  /** Asks `node` for the session; resolves whether it put it in Redis, or that it did not answer. */
  async #ask(
    node: string,
    id: string,
    epoch: number,
    username: string | undefined,
    waiting: Waiting,
  ): Promise<boolean | "timeout"> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const answered = new Promise<boolean | "timeout">((resolve) => {
      waiting.answer = resolve;
      timer = setTimeout(() => {
        this.logger.warn(
          `cluster: node ${node} did not hand over the session of client id ${id} within ` +
            `${
              this.timeoutMs / 1000
            } s (cluster.handover-timeout); its copy in Redis is read instead`,
        );
        resolve("timeout");
      }, this.timeoutMs);
    });
    const ask: Message = { t: "ask", c: id, e: epoch, n: this.node, u: username ?? null };
    try {
      await this.cmd.publish(keys.sessions(node), JSON.stringify(ask));
      return await answered;
    } catch (error) {
      this.#failed(`cannot ask node ${node} for the session of client id ${id}`, error);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads the session handed over for `epoch`. */
  async #take(id: string, epoch: number, from: string): Promise<ClaimOutcome> {
    try {
      const key = keys.handover(id);
      const [[, bytes]] = await this.cmd.multi().getBuffer(key).del(key).exec() as [
        [unknown, Buffer | null],
      ];
      if (!bytes) return {};
      const handed = decodeSession(bytes);
      if (handed.epoch !== epoch) return {};
      this.logger.debug(`cluster: session of client id ${id} handed over by node ${from}`);
      return { session: handed.session };
    } catch (error) {
      this.#failed(`cannot read the session of client id ${id} handed over by ${from}`, error);
      return {};
    }
  }

  /** Claims waiting for an answer get none: the node is leaving. */
  close(): void {
    for (const waiting of this.#waiting.values()) waiting.answer?.(false);
    for (const leaving of this.#leaving.values()) clearTimeout(leaving.timer);
    this.#leaving.clear();
  }

  /**
   * `barrier <old node> <epoch> <client id>` on the interest channel: the new node's filters for
   * that session were announced before it, so every node that hears it routes the session's
   * messages there from now on, and sends the old node a marker (in that node's order of
   * messages to it): returned here, unless this node is the old one (then see
   * {@link markersFrom}).
   */
  heardBarrier(barrier: string): { to: string; marker: string } | undefined {
    const { node, epoch, id } = parseMark(barrier);
    return node === this.node ? undefined : { to: node, marker: `${this.node} ${epoch} ${id}` };
  }

  /** This node is the old one of `barrier`: the session goes once each of `nodes` marked. */
  markersFrom(barrier: string, nodes: ReadonlySet<string>): void {
    const { epoch, id } = parseMark(barrier);
    const leaving = this.#leaving.get(id);
    if (leaving?.epoch !== epoch || leaving.waiting) return;
    leaving.waiting = new Set([...nodes].filter((node) => !leaving.early.has(node)));
    this.#markersIn(id, leaving);
  }

  /** A marker from another node read from this node's inbox (see {@link heardBarrier}). */
  marked(marker: string): void {
    const { node, epoch, id } = parseMark(marker);
    const leaving = this.#leaving.get(id);
    if (leaving?.epoch !== epoch) return;
    if (!leaving.waiting) leaving.early.add(node);
    else if (leaving.waiting.delete(node)) this.#markersIn(id, leaving);
  }

  /** `node` died or left: no marker is to come from it. */
  nodeGone(node: string): void {
    for (const [id, leaving] of this.#leaving) {
      if (leaving.waiting?.delete(node)) this.#markersIn(id, leaving);
    }
  }

  #markersIn(id: string, leaving: Leaving): void {
    if (leaving.waiting?.size === 0) void this.#finish(id, leaving);
  }

  /** See {@link ClusterBus.ended}. */
  ended(clientId: string): void {
    this.leases.release(clientId).catch(() => {});
  }

  /** A message on this node's sessions channel. */
  heard(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof message.c !== "string" || typeof message.e !== "number") return;
    if (message.t === "done") {
      const waiting = this.#waiting.get(message.c);
      if (waiting?.epoch === message.e) waiting.answer?.(message.ok === true);
    } else if (message.t === "subs" && Array.isArray(message.s)) {
      const waiting = this.#waiting.get(message.c);
      if (waiting?.epoch !== message.e || typeof message.n !== "string") return;
      // Taken in here before every node hears the barrier, which follows the filters' announcements.
      this.host.expect(waiting.info, message.s);
      const barrier = `${this.node} barrier ${message.n} ${message.e} ${message.c}`;
      this.cmd.publish(keys.INTEREST_CHANNEL, barrier).catch(() => {});
    } else if (message.t === "ask" && typeof message.n === "string") {
      void this.#letGo(message.c, message.e, message.n, message.u ?? undefined);
    }
  }

  /**
   * Another node claimed `id` under `epoch` and asks for its session: the connection here
   * closes, the asker gets the session's subscriptions and takes in what they match from then
   * on; the session stays here, taking in messages, until every node marked that it routes them
   * to the asker too (or half of `cluster.handover-timeout` passed).
   */
  async #letGo(id: string, epoch: number, to: string, username: string | undefined) {
    const mine = this.leases.epochOf(id);
    // A claim of ours newer than the asker's: the asker lost the race, and learns it from
    // Redis when it next writes about the session.
    if (mine !== undefined && mine > epoch) return this.#answer(to, id, epoch, false);
    const pending = this.#waiting.get(id);
    if (pending && pending.epoch < epoch) pending.superseded = true;
    const before = this.#leaving.get(id);
    if (before) {
      clearTimeout(before.timer);
      this.#leaving.delete(id);
      await this.#answer(before.to, id, before.epoch, false);
    }
    const subscriptions = this.host.letGo(id, username);
    if (!subscriptions) {
      this.leases.forget(id);
      return this.#answer(to, id, epoch, false);
    }
    const leaving: Leaving = {
      epoch,
      to,
      username,
      waiting: undefined,
      early: new Set(),
      timer: setTimeout(() => {
        this.logger.warn(
          `cluster: not every node marked within ${this.timeoutMs / 2000} s that it routes the ` +
            `messages of client id ${id} to node ${to}; its session goes there now, and what ` +
            `those nodes sent here for it before can be lost`,
        );
        void this.#finish(id, leaving);
      }, this.timeoutMs / 2),
    };
    this.#leaving.set(id, leaving);
    const subs: Message = { t: "subs", c: id, e: epoch, n: this.node, s: subscriptions };
    await this.cmd.publish(keys.sessions(to), JSON.stringify(subs)).catch(() => {});
  }

  #finish(id: string, leaving: Leaving): Promise<void> {
    if (this.#leaving.get(id) !== leaving) return Promise.resolve();
    this.#leaving.delete(id);
    clearTimeout(leaving.timer);
    // Its client came back here meanwhile, under a newer claim: the asker lost the race.
    const mine = this.leases.epochOf(id);
    if (mine !== undefined && mine > leaving.epoch) {
      return this.#answer(leaving.to, id, leaving.epoch, false);
    }
    return this.#handOver(id, leaving.epoch, leaving.to, leaving.username);
  }

  /** Hands the session of `id` over to `to`, which claimed it under `epoch`. */
  async #handOver(id: string, epoch: number, to: string, username: string | undefined) {
    const session = this.host.handOver(id, username);
    this.leases.forget(id);
    let ok = false;
    if (session) {
      try {
        const bytes = encodeSession(epoch, session);
        ok = await this.leases.fencedSet(id, epoch, keys.handover(id), bytes, HANDOVER_TTL_MS);
        if (!ok) {
          this.logger.warn(
            `cluster: the session of client id ${id} was claimed again while being handed ` +
              `to node ${to}; it is dropped here`,
          );
        }
      } catch (error) {
        this.#failed(`cannot hand over the session of client id ${id} to node ${to}`, error);
      }
    }
    await this.#answer(to, id, epoch, ok);
  }

  async #answer(to: string, id: string, epoch: number, ok: boolean): Promise<void> {
    const done: Message = { t: "done", c: id, e: epoch, n: this.node, ok };
    await this.cmd.publish(keys.sessions(to), JSON.stringify(done)).catch(() => {});
  }

  #failed(what: string, error: unknown): void {
    if (this.#failureLogged) return;
    this.#failureLogged = true;
    const why = error instanceof Error ? error.message : String(error);
    this.logger.warn(`cluster: ${what} (${why}); the client is served as if this node were alone`);
  }
}
