/**
 * `broker store FILE`: what a store holds, without starting a broker; with `--move-aside`, a
 * damaged store is renamed out of the way so that the broker starts empty.
 *
 *   broker store FILE                prints sessions, subscriptions, messages, retained, size
 *                                    (read-only: the file is never created nor changed)
 *   broker store FILE --move-aside   renames FILE (and its -wal and -shm) to FILE.damaged-TIME
 *
 * @module
 */
import { existsSync, renameSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { StoreError } from "./error.ts";
import { readStoreSummary } from "./sqlite/sqlite.ts";

const USAGE = `usage: broker store FILE [--move-aside]
  prints what the persistence store FILE holds, read-only, without starting a broker
  --move-aside     rename a damaged FILE (and FILE-wal, FILE-shm) to FILE.damaged-TIME,
                   so that the broker starts with an empty store
  -h, --help       this text`;

/** Where {@link runStore} writes; defaults are stdout and stderr. */
export interface StoreIo {
  out?(line: string): void;
  err?(line: string): void;
}

/** Runs `broker store`; returns the exit code (2 for usage errors and stores that cannot open). */
export function runStore(argv: string[], io: StoreIo = {}): number {
  const out = io.out ?? ((line: string) => console.log(line));
  const err = io.err ?? ((line: string) => console.error(line));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { "move-aside": { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    err(`broker store: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    out(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    err(USAGE);
    return 2;
  }
  const file = resolve(parsed.positionals[0]);
  if (!existsSync(file)) {
    err(`broker store: ${file} does not exist`);
    return 2;
  }
  if (parsed.values["move-aside"]) {
    const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    for (const suffix of ["", "-wal", "-shm"]) {
      if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
    }
    out(`moved ${file} aside to ${aside}; the broker starts with an empty store`);
    return 0;
  }
  try {
    const summary = readStoreSummary(file);
    out(`store ${file}`);
    out(`  sessions       ${summary.sessions}`);
    out(`  subscriptions  ${summary.subscriptions}`);
    out(`  messages       ${summary.messages} (queued or in flight: ${summary.deliveries})`);
    out(`  retained       ${summary.retained}`);
    out(`  size           ${summary.bytes} bytes`);
    return 0;
  } catch (error) {
    if (error instanceof StoreError) {
      err(`broker: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
