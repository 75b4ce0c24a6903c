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
 * Takes the lease unless a live node holds it for another user. Epochs come from one counter
 * for every client id, so that a lease deleted and claimed again never reuses an epoch a stale
 * node may still hold. The holder's own node skips the user check: it has the session in memory
 * and judges it there (a lease it failed to release must not lock the id).
 */
const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'user')
local holder, user = cur[1], cur[2]
local alive = 0
if holder and holder ~= ARGV[1] then
  alive = redis.call('EXISTS', ARGV[3] .. holder)
  if alive == 1 and user ~= ARGV[2] then return {0, user} end
  redis.call('SREM', ARGV[4] .. holder, ARGV[5])
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch, 'user', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[5])
return {epoch, holder or '', alive}
`;

/** Deletes the lease if it is still at the epoch given. */
const RELEASE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
`;

/** Deletes the leases a node still holds, and its set of them. */
const DROP_NODE = `
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local lease = ARGV[2] .. id
  if redis.call('HGET', lease, 'node') == ARGV[1] then redis.call('DEL', lease) end
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

/** The leases one node holds, and the scripts that take, fence and release them. */
export class Leases {
  /** By client id: the epoch of each lease this node holds. */
  readonly #held = new Map<string, number>();

  constructor(readonly redis: Redis, readonly node: string) {}

  /** The epoch under which this node holds `clientId`'s lease, if it does. */
  epochOf(clientId: string): number | undefined {
    return this.#held.get(clientId);
  }

  /** Claims `clientId` for `username`; rejects when Redis does not answer. */
  async claim(clientId: string, username: string | undefined): Promise<Claim> {
    const reply = await this.redis.eval(
      CLAIM,
      3,
      keys.lease(clientId),
      keys.EPOCH,
      keys.leases(this.node),
      this.node,
      username ?? "",
      keys.alive(""),
      keys.leases(""),
      clientId,
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
   * The session of `clientId` ended here: its lease goes, unless another node claimed it since
   * (then Redis refuses). Resolves whether it went.
   */
  async release(clientId: string): Promise<boolean> {
    const epoch = this.#held.get(clientId);
    if (epoch === undefined) return false;
    this.#held.delete(clientId);
    const reply = await this.redis.eval(
      RELEASE,
      2,
      keys.lease(clientId),
      keys.leases(this.node),
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
    await this.redis.eval(DROP_NODE, 1, keys.leases(node), node, keys.lease(""));
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
