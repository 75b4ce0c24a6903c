/**
 * `broker passwd`: adds, updates or deletes a user in a password file, writing `$7$` hashes as
 * `mosquitto_passwd` does, so either tool can manage the file; or, with `--scram`, SCRAM-SHA-256
 * entries for MQTT 5 enhanced authentication.
 *
 *   broker passwd [-c] FILE USER                 asks for the password twice (no echo)
 *   broker passwd [-c] FILE USER --password P    for scripts
 *   broker passwd [-c] -b FILE USER P            the same, spelled as mosquitto_passwd does
 *   broker passwd ... --scram                    writes a `$scram-sha-256$` entry instead
 *   broker passwd -D FILE USER                   deletes USER
 *
 * Every other line of the file (comments, blank lines, other users) is kept as it was.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { readFile, realpath, rename, stat, unlink, writeFile } from "node:fs/promises";
import process from "node:process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { hashPassword } from "./plugins/password/mod.ts";
import { createScramEntry } from "./plugins/password/scram.ts";

/** Where `runPasswd` talks to; every member has a default that uses the process's terminal. */
export interface PasswdIo {
  /**
   * Asks for a password without echoing it. When given, the password is asked twice and both
   * answers must agree. The default reads the terminal (twice), or one line of stdin when stdin
   * is not a terminal.
   */
  readPassword?(prompt: string): Promise<string>;
  /** Normal output, one line per call; default stdout. */
  out?(line: string): void;
  /** Errors, one line per call; default stderr. */
  err?(line: string): void;
}

const USAGE = `usage: broker passwd [-c | -D] FILE USER [--password PASSWORD] [--scram]
       broker passwd [-c] -b FILE USER PASSWORD [--scram]
  -c               create FILE, overwriting it if it exists
  -D               delete USER from FILE
  -b               batch mode: the password is the third argument
  --password P     the password (else it is asked for twice on the terminal)
  --scram          write a SCRAM-SHA-256 entry (MQTT 5 enhanced authentication) instead of $7$`;

class UsageError extends Error {}

/** Reads what the user types up to Enter with echo off; Ctrl-C rejects. */
function readHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = (error?: Error) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stdout.write("\n");
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Uint8Array | string) => {
      const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      for (const ch of text) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return finish();
        if (ch === "\u0003") return finish(new Error("interrupted"));
        if (ch === "\u007f" || ch === "\b") value = Array.from(value).slice(0, -1).join("");
        else value += ch;
      }
    };
    // Echo goes off before the prompt shows, so nothing typed after seeing it is echoed.
    input.setRawMode(true);
    process.stdout.write(prompt);
    input.resume();
    input.on("data", onData);
  });
}

/** One line of piped stdin. */
function readLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, terminal: false });
    let line: string | undefined;
    rl.once("line", (l) => {
      line = l;
      rl.close();
    });
    rl.once("close", () => {
      if (line === undefined) reject(new Error("no password on stdin"));
      else resolve(line);
    });
  });
}

async function askPassword(io: PasswdIo): Promise<string> {
  const read = io.readPassword ?? (process.stdin.isTTY ? readHidden : undefined);
  if (read === undefined) return await readLine();
  const first = await read("Password: ");
  const second = await read("Reenter password: ");
  if (first !== second) throw new Error("passwords do not match");
  return first;
}

/** The user name on a password file line, or undefined for comments and blank lines. */
function lineUser(line: string): string | undefined {
  const text = line.trim();
  if (text === "" || text.startsWith("#")) return undefined;
  const colon = text.indexOf(":");
  return colon < 0 ? text : text.slice(0, colon);
}

async function readExisting(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") {
      throw new Error(`${file} does not exist (use -c to create it)`);
    }
    throw e;
  }
}

/** Writes beside the file and renames, so a crash never leaves half a password file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  let target = file;
  let mode = 0o600;
  try {
    target = await realpath(file);
    mode = (await stat(target)).mode & 0o777;
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  const temp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temp, text, { mode });
    await rename(temp, target);
  } catch (e) {
    await unlink(temp).catch(() => {});
    throw e;
  }
}

/** Applies the change to the file's text, keeping every other line and the line endings. */
function edit(text: string, user: string, hash: string | undefined): string | undefined {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  let found = false;
  const out: string[] = [];
  for (const line of lines) {
    if (lineUser(line) !== user) {
      out.push(line);
      continue;
    }
    // A repeated user would make the file unreadable for auth_file: keep only the first line.
    if (hash !== undefined && !found) out.push(`${user}:${hash}`);
    found = true;
  }
  if (!found) {
    if (hash === undefined) return undefined;
    out.push(`${user}:${hash}`);
  }
  return out.length ? out.join(eol) + eol : "";
}

/**
 * Runs `broker passwd` with the arguments after `passwd`; resolves to the exit status (0 on
 * success, 1 on any error, which is reported through `io.err`).
 */
export async function runPasswd(args: string[], io: PasswdIo = {}): Promise<number> {
  const out = io.out ?? ((line: string) => process.stdout.write(line + "\n"));
  const err = io.err ?? ((line: string) => process.stderr.write(line + "\n"));
  try {
    const { values, positionals } = (() => {
      try {
        return parseArgs({
          args,
          allowPositionals: true,
          options: {
            c: { type: "boolean", short: "c" },
            D: { type: "boolean", short: "D" },
            b: { type: "boolean", short: "b" },
            password: { type: "string" },
            scram: { type: "boolean" },
            help: { type: "boolean", short: "h" },
          },
        });
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    })();
    if (values.help) {
      out(USAGE);
      return 0;
    }
    const expected = values.b ? 3 : 2;
    if (positionals.length !== expected) {
      throw new UsageError(`expected ${values.b ? "FILE USER PASSWORD" : "FILE USER"}`);
    }
    if (values.c && values.D) throw new UsageError("-c and -D cannot be used together");
    if (values.b && values.password !== undefined) {
      throw new UsageError("-b and --password cannot be used together");
    }
    if (values.D && (values.b || values.password !== undefined)) {
      throw new UsageError("-D takes no password");
    }
    if (values.D && values.scram) throw new UsageError("-D and --scram cannot be used together");
    const [file, user] = positionals;
    if (user === "" || /[:\r\n]/.test(user)) {
      throw new UsageError("the user name must be non-empty and contain no ':' or line break");
    }

    const existing = values.c ? "" : await readExisting(file);
    if (values.D) {
      const text = edit(existing, user, undefined);
      if (text === undefined) throw new Error(`user ${user} is not in ${file}`);
      await writeAtomically(file, text);
      out(`deleted user ${user}`);
      return 0;
    }
    const password = values.b ? positionals[2] : values.password ?? await askPassword(io);
    const known = lineUserPresent(existing, user);
    const hash = values.scram ? await createScramEntry(password) : hashPassword(password);
    await writeAtomically(file, edit(existing, user, hash) ?? "");
    out(`${known ? "updated" : "added"} user ${user}`);
    return 0;
  } catch (e) {
    err(`broker passwd: ${(e as Error).message}`);
    if (e instanceof UsageError) err(USAGE);
    return 1;
  }
}

function lineUserPresent(text: string, user: string): boolean {
  return text.split(/\r?\n/).some((line) => lineUser(line) === user);
}
