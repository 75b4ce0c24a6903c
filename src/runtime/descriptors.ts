/**
 * Growing the process's descriptor table before clients need it.
 *
 * Linux keeps a process's descriptors in a table it doubles when a new descriptor does not fit
 * (256, 512, 1,024, ...), and in a process with more than one thread, which every runtime is, each
 * doubling waits for an RCU grace period: 5 to 17 ms measured here, during which the thread that
 * asked (the event loop, accepting a connection) sleeps. A storm of a thousand CONNECTs on a fresh
 * broker crossed three doublings: the connected clients' packets waited 15 to 25 ms at each, and
 * the accepts that did not happen meanwhile overflowed the listen backlog (a dropped SYN costs its
 * client a second). The table never shrinks, so growing it once, at start, spares every later
 * storm. A single-threaded server (Mosquitto) does not pay the wait at all.
 *
 * @module
 */
import { closeSync, open, openSync, readFileSync } from "node:fs";
import { afterIo } from "./turn.ts";

/** Opens on the event loop before the other sockets get a turn: about a millisecond's worth. */
const OPENS_PER_TURN = 256;

/**
 * What the table may be grown to: `wanted`, but at most half of the soft limit on open
 * descriptors, because the descriptors that grow it are held until it has grown, and accepts
 * need the rest meanwhile.
 */
export function descriptorTarget(wanted: number, softLimit: number): number {
  return Math.min(wanted, Math.floor(softLimit / 2));
}

/** A number from a `/proc/self` file, or undefined when there is none (not Linux). */
function procNumber(file: string, pattern: RegExp): number | undefined {
  try {
    const match = readFileSync(file, "utf8").match(pattern);
    if (!match) return undefined;
    return match[1] === "unlimited" ? Infinity : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Slots in this process's descriptor table now, or undefined when it cannot be known. */
export function descriptorTableSize(): number | undefined {
  return procNumber("/proc/self/status", /^FDSize:\s*(\d+)/m);
}

/** This process's soft limit on open descriptors (Infinity when unlimited), or undefined (not Linux). */
export function descriptorLimit(): number | undefined {
  return procNumber("/proc/self/limits", /^Max open files\s+(\S+)/m);
}

function openNull(): Promise<number | undefined> {
  return new Promise((resolve) =>
    open("/dev/null", "r", (err, fd) => resolve(err ? undefined : fd))
  );
}

function openNullSync(): number | undefined {
  try {
    return openSync("/dev/null", "r");
  } catch {
    return undefined;
  }
}

/**
 * Grows this process's descriptor table to at least `wanted` slots (within
 * {@link descriptorTarget}), and resolves with its size then. It opens `/dev/null` until a
 * descriptor lands at the top, then closes them all. A descriptor that fits in the table as it is
 * costs a few microseconds, opened on the event loop; the one that needs the table doubled is
 * opened on the runtime's thread pool, which waits out the grace period instead. (Opening all of
 * them there, 64 at a time, left Deno about a tenth slower in the bridge benchmark afterwards.)
 * Does nothing when the table is already that large, or on systems without `/proc` (not Linux);
 * stops quietly at the first open that fails.
 */
export async function growDescriptorTable(wanted: number): Promise<number | undefined> {
  let slots = descriptorTableSize();
  const soft = descriptorLimit();
  if (slots === undefined || soft === undefined) return slots;
  const target = descriptorTarget(wanted, soft);
  if (slots >= target) return slots;
  const held: number[] = [];
  let highest = -1;
  try {
    while (highest < target - 1) {
      // Descriptors go lowest first: with the top slot taken, every slot is.
      const full = highest === slots - 1;
      const fd = full ? await openNull() : openNullSync();
      if (fd === undefined) break;
      if (!full && held.length % OPENS_PER_TURN === 0) await new Promise<void>((r) => afterIo(r));
      held.push(fd);
      highest = Math.max(highest, fd);
      if (full) slots = descriptorTableSize() ?? slots;
    }
  } finally {
    for (const fd of held) closeSync(fd);
  }
  return descriptorTableSize();
}
