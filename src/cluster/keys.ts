/**
 * The Redis keys and channels of a cluster. Every key starts with `mqtt:` so that a cluster can
 * share a Redis with other uses; two clusters on one Redis take different database numbers.
 *
 * @module
 */

/** The set of node names that joined and were not reaped. */
export const NODES = "mqtt:nodes";
/** The retained messages: topic -> frame. */
export const RETAINED = "mqtt:retained";
/** Channel: a retained message set or cleared (a frame). */
export const RETAINED_CHANNEL = "mqtt:retained";
/** Channel: `<node> +<filter>`, `<node> -<filter>`, `<node> reload`, `<node> gone`. */
export const INTEREST_CHANNEL = "mqtt:interest";

/** Channel: `{"n": node, "c": client id, "u": user name}`, a client connected to node n. */
export const CLIENTS_CHANNEL = "mqtt:clients";

/** A node's heartbeat, set with a time to live; its value is the node's run id. */
export const alive = (node: string): string => `mqtt:alive:${node}`;
/** A node's filters: filter (`$share/{group}/{filter}` for shared ones) -> 1. */
export const filters = (node: string): string => `mqtt:filters:${node}`;
/** A node's inbox for QoS 1/2 messages (a stream of batches). */
export const inbox = (node: string): string => `mqtt:inbox:${node}`;
/** What a node has read of its inbox: `id` -> stream id, origin run -> its last sequence. */
export const offsets = (node: string): string => `mqtt:offsets:${node}`;
/** Channel of a node's QoS 0 messages (batches). */
export const direct = (node: string): string => `mqtt:direct:${node}`;
/** The wills of a node's clients: client id -> frame. */
export const wills = (node: string): string => `mqtt:wills:${node}`;
/** Taken with SET NX by the one survivor that publishes a dead node's wills. */
export const reaper = (node: string): string => `mqtt:reaper:${node}`;

/** The one counter every lease epoch is taken from. */
export const EPOCH = "mqtt:epoch";
/** The lease on a client id: `node`, `epoch`, `user`. */
export const lease = (clientId: string): string => `mqtt:lease:${clientId}`;
/** The client ids whose lease a node holds (so that the leases of a dead node can go). */
export const leases = (node: string): string => `mqtt:leases:${node}`;
/** A session handed over to the lease's new holder, for a short while. */
export const handover = (clientId: string): string => `mqtt:handover:${clientId}`;
/**
 * A durable session's copy (see mirror.ts): a hash of its fields, subscriptions, QoS 2 receive
 * state and per delivery its state and message; it expires as the session would once disconnected.
 */
export const session = (clientId: string): string => `mqtt:session:${clientId}`;
/** Channel of a node's session requests and answers (JSON). */
export const sessions = (node: string): string => `mqtt:sessions:${node}`;
