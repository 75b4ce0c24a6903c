/**
 * Cheap readings of another process from Linux /proc: CPU ticks and resident memory.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** Linux exports CPU times to user space in USER_HZ, which is 100 on every architecture we run. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time of `pid` (all its threads), in seconds: in user space, and in the kernel for it.
 * `"thread-self"`: the calling thread's alone.
 */
export function cpuTimes(pid: number | "thread-self"): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces and parentheses, so fields are counted from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    user: Number(fields[11]) / TICKS_PER_SECOND,
    system: Number(fields[12]) / TICKS_PER_SECOND,
  };
}

/** User plus system CPU time of `pid` (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** A `Vm*` line of /proc/PID/status, in KiB. */
export function statusKb(pid: number, key: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
  if (match === null) throw new Error(`no ${key} in /proc/${pid}/status`);
  return Number(match[1]);
}

/** CPU time all cores spent busy (anything but idle and iowait) since boot, in seconds. */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return (total - ticks[3] - ticks[4]) / TICKS_PER_SECOND;
}

/** The type of the file system that holds `path` (e.g. ext4, tmpfs), from /proc/mounts. */
export function fileSystemType(path: string): string {
  let best = { at: "", type: "unknown" };
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [, mountedAt, type] = line.split(" ");
    if (mountedAt === undefined || type === undefined) continue;
    // /proc/mounts writes a space in a mount point as \040.
    const at = mountedAt.replaceAll("\\040", " ");
    const holds = path === at || path.startsWith(at === "/" ? "/" : `${at}/`);
    if (holds && at.length >= best.at.length) best = { at, type };
  }
  return best.type;
}
