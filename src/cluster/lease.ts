/**
 * Ownership of client ids across the cluster, as fenced leases: Redis keeps, per client id, the
 * node that serves its session, the user it belongs to and an epoch. A node that takes a session
 * claims the next epoch in one script; every later write about the session names the epoch it
 * was made under, and Redis refuses it once another node has claimed a newer one.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import * as keys from "./keys.ts";

/** What a claim found and took. */
export type Claim =
  | {
    readonly granted: true;
    readonly epoch: number;
    /** The node that held the lease before, if another one. */
    readonly previous: string | undefined;
    /** Whether that node's heartbeat is fresh. */
    readonly previousAlive: boolean;
  }
  | {
    readonly granted: false;
    /** The user the session belongs to ("" for anonymous). */
    readonly owner: string;
  };

/**
 * Takes the lease unless a live node holds it for another user, or a copy of the session in
 * Redis (see mirror.ts) belongs to another user. Epochs come from one counter for every client
 * id, so that a lease deleted and claimed again never reuses an epoch a stale node may still
 * hold. The holder's own node skips the user check of the lease: it has the session in memory
 * and judges it there (a lease it failed to release must not lock the id); the copy's user is
 * checked unless the session is in memory here. A clean start deletes the copy: its session
 * ends wherever it is, and its old holder can no longer write (its epoch is stale).
 */
const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'user')
local holder, user = cur[1], cur[2]
local alive = 0
if holder and holder ~= ARGV[1] then
  alive = redis.call('EXISTS', ARGV[3] .. holder)
  if alive == 1 and user ~= ARGV[2] then return {0, user} end
end
if ARGV[6] == '0' then
  local owner = redis.call('HGET', KEYS[4], 'u')
  if owner and owner ~= ARGV[2] then return {0, owner} end
end
if holder and holder ~= ARGV[1] then redis.call('SREM', ARGV[4] .. holder, ARGV[5]) end
if ARGV[7] == '1' then redis.call('DEL', KEYS[4]) end
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch, 'user', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[5])
return {epoch, holder or '', alive}
`;

/**
 * Deletes the lease if it is still at the epoch given, and the copy of its session: the session
 * ended on the node that held it (the copy may have no expiry, if it ended while connected).
 */
const RELEASE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`;

/**
 * Deletes the leases a node still holds, and its set of them. The copies of their sessions that
 * were connected (no expiry in Redis) start to expire now, by their own expiry interval
 * (field `x`, -1 for never): their connections ended with the node.
 */
const DROP_NODE = `
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local lease = ARGV[2] .. id
  if redis.call('HGET', lease, 'node') == ARGV[1] then
    redis.call('DEL', lease)
    local copy = ARGV[3] .. id
    if redis.call('PTTL', copy) == -1 then
      local x = tonumber(redis.call('HGET', copy, 'x'))
      if x and x > 0 then redis.call('PEXPIRE', copy, math.floor(x)) end
    end
  end
end
redis.call('DEL', KEYS[1])
return 1
`;

/** Sets a key about the session, for `PX` ms, if the lease is still at the epoch given. */
const FENCED_SET = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`;

/**
 * Writes the changes of one turn to the copy of one session, if the lease is at the epoch given.
 * ARGV: epoch; mode (`end` deletes the copy, `full` replaces it, `part` changes an existing
 * one); for a part, the epoch the copy was last written whole under by this node, which its
 * field `e` must still hold (no other node wrote it since; a part under a newer epoch of this
 * node carries `e` over to it); expiry (`` unchanged, `0` none, else the absolute time in ms);
 * the number n of fields set, n field-value pairs, then the fields deleted. Returns 1 when
 * written, 0 when the lease is another's (or gone), 2 when a part was for a copy Redis no longer
 * has or another node wrote meanwhile.
 */
const SESSION_WRITE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local mode = ARGV[2]
if mode == 'end' then
  redis.call('DEL', KEYS[2])
  return 1
end
if mode == 'full' then redis.call('DEL', KEYS[2])
elseif redis.call('HGET', KEYS[2], 'e') ~= ARGV[3] then return 2 end
if ARGV[3] ~= ARGV[1] then redis.call('HSET', KEYS[2], 'e', ARGV[1]) end
local n = tonumber(ARGV[5])
for i = 6, 5 + 2 * n, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
for i = 6 + 2 * n, #ARGV do redis.call('HDEL', KEYS[2], ARGV[i]) end
local at = ARGV[4]
if at == '0' then redis.call('PERSIST', KEYS[2])
elseif at ~= '' then redis.call('PEXPIREAT', KEYS[2], at) end
return 1
`;

/** One session's changes of one turn, for {@link Leases.writeSessions}. */
export interface SessionWrite {
  readonly clientId: string;
  readonly epoch: number;
  /** `end`: the copy goes; `full`: it is replaced; `part`: fields of an existing one change. */
  readonly mode: "end" | "full" | "part";
  /** For a part: the epoch this node last wrote the copy whole under (see SESSION_WRITE). */
  readonly after?: number;
  /** `""`: unchanged; `"0"`: no expiry (connected, or never); else when it expires (ms). */
  readonly expireAt: string;
  readonly set: readonly (readonly [string, string | Buffer])[];
  readonly deleted: readonly string[];
}

/** What Redis did with a {@link SessionWrite}. */
export type WriteResult = "written" | "fenced" | "missing";

const WRITE_RESULTS: Record<number, WriteResult> = { 1: "written", 0: "fenced", 2: "missing" };

/** A pipeline that has the session script as a command (see `defineCommand`). */
interface ScriptedPipeline {
  mqttSessionWrite(...args: (string | number | Buffer)[]): ScriptedPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** The leases one node holds, and the scripts that take, fence and release them. */
export class Leases {
  /** By client id: the epoch of each lease this node holds. */
  readonly #held = new Map<string, number>();

  constructor(readonly redis: Redis, readonly node: string) {
    redis.defineCommand("mqttSessionWrite", { numberOfKeys: 2, lua: SESSION_WRITE });
  }

  /** The epoch under which this node holds `clientId`'s lease, if it does. */
  epochOf(clientId: string): number | undefined {
    return this.#held.get(clientId);
  }

  /**
   * Claims `clientId` for `username`; rejects when Redis does not answer. `held`: the session is
   * in memory here (its user is judged here); `clean`: a clean start, which deletes its copy.
   */
  async claim(
    clientId: string,
    username: string | undefined,
    held = false,
    clean = false,
  ): Promise<Claim> {
    const reply = await this.redis.eval(
      CLAIM,
      4,
      keys.lease(clientId),
      keys.EPOCH,
      keys.leases(this.node),
      keys.session(clientId),
      this.node,
      username ?? "",
      keys.alive(""),
      keys.leases(""),
      clientId,
      held ? "1" : "0",
      clean ? "1" : "0",
    ) as [number, string, number?];
    const [epoch, holder, alive] = reply;
    if (epoch === 0) return { granted: false, owner: holder };
    this.#held.set(clientId, epoch);
    return {
      granted: true,
      epoch,
      previous: holder === "" || holder === this.node ? undefined : holder,
      previousAlive: alive === 1,
    };
  }

  /** Forgets `clientId`'s lease here without touching Redis: another node has it now. */
  forget(clientId: string): void {
    this.#held.delete(clientId);
  }

  /**
   * The session of `clientId` ended here: its lease and its copy go, unless another node claimed
   * it since (then Redis refuses). Resolves whether they went.
   */
  async release(clientId: string): Promise<boolean> {
    const epoch = this.#held.get(clientId);
    if (epoch === undefined) return false;
    this.#held.delete(clientId);
    const reply = await this.redis.eval(
      RELEASE,
      3,
      keys.lease(clientId),
      keys.leases(this.node),
      keys.session(clientId),
      epoch,
      clientId,
    );
    return reply === 1;
  }

  /**
   * Deletes the leases `node` still holds: it died (its sessions died with it), or this node
   * leaves for good. Leases claimed since by other nodes stay.
   */
  async dropNode(node: string): Promise<void> {
    if (node === this.node) this.#held.clear();
    await this.redis.eval(
      DROP_NODE,
      1,
      keys.leases(node),
      node,
      keys.lease(""),
      keys.session(""),
    );
  }

  /**
   * Writes the changes of one turn to the copies of sessions, each fenced by its epoch, in one
   * pipeline; resolves what Redis did with each, rejects when the link failed.
   */
  async writeSessions(writes: readonly SessionWrite[]): Promise<WriteResult[]> {
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    for (const w of writes) {
      const args: (string | number | Buffer)[] = [
        keys.lease(w.clientId),
        keys.session(w.clientId),
        w.epoch,
        w.mode,
        w.after ?? "",
        w.expireAt,
        w.set.length,
      ];
      for (const [field, value] of w.set) args.push(field, value);
      for (const field of w.deleted) args.push(field);
      pipeline.mqttSessionWrite(...args);
    }
    const replies = await pipeline.exec();
    if (!replies) throw new Error("the pipeline was discarded");
    return replies.map(([error, reply]) => {
      if (error) throw error;
      return WRITE_RESULTS[reply as number] ?? "fenced";
    });
  }

  /**
   * The copy of `clientId`'s session as Redis holds it, read only while the lease is at `epoch`
   * (in one transaction); undefined when the lease is another's or there is no copy.
   */
  async readSession(
    clientId: string,
    epoch: number,
  ): Promise<Record<string, Buffer> | undefined> {
    const replies = await this.redis.multi()
      .hget(keys.lease(clientId), "epoch")
      .hgetallBuffer(keys.session(clientId))
      .exec();
    if (!replies) return undefined;
    const [[leaseError, held], [copyError, copy]] = replies as [
      [Error | null, string | null],
      [Error | null, Record<string, Buffer>],
    ];
    if (leaseError || copyError) throw leaseError ?? copyError;
    if (held !== String(epoch) || Object.keys(copy).length === 0) return undefined;
    return copy;
  }

  /**
   * Writes `value` under `key` for `ttlMs` if `clientId`'s lease is at `epoch`; resolves whether
   * Redis took it. A node that lost the lease cannot overwrite what the new holder relies on.
   */
  async fencedSet(
    clientId: string,
    epoch: number,
    key: string,
    value: Uint8Array,
    ttlMs: number,
  ): Promise<boolean> {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const reply = await this.redis.eval(
      FENCED_SET,
      2,
      keys.lease(clientId),
      key,
      epoch,
      bytes,
      ttlMs,
    );
    return reply === 1;
  }
}
