/**
 * Admin logins for `type: http` listeners: HTTP basic auth on any request, or a session cookie
 * got from `POST /api/login`. Passwords are checked against `auth.password-file` exactly as
 * `auth_file` checks MQTT clients (same hashes, same decoy for unknown names, same queue of
 * pending checks); the file is read at each check, so a changed password counts at once.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { decoyFor } from "../plugins/builtin/auth_file.ts";
import { parsePasswordFile, verifyPassword } from "../plugins/password/mod.ts";
import { HashPool } from "../plugins/password/pool.ts";
import { CheckQueue, MAX_PENDING_CHECKS } from "../plugins/password/queue.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "broker_admin";

/** How long a session lasts from login, in seconds. */
export const SESSION_SECONDS = 8 * 3600;

/** Sessions at once; past it the oldest one ends. */
export const MAX_SESSIONS = 1000;

/** User name and password of a `Basic` Authorization header, or undefined when it is not one. */
export function basicCredentials(
  header: string | null,
): { user: string; password: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  if (!match) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Checks admin credentials and keeps the sessions of those who logged in. */
export class AdminLogin {
  readonly #users: ReadonlySet<string>;
  readonly #passwordFile: string | undefined;
  /** One thread is enough for logins, which are rare; it starts at the first one. */
  readonly #pool = new HashPool({ size: 1 });
  readonly #checks = new CheckQueue(MAX_PENDING_CHECKS, this.#pool.capacity);
  /** Token to user and expiry (ms); a Map keeps login order, so the first is the oldest. */
  readonly #sessions = new Map<string, { user: string; expires: number }>();

  constructor(users: readonly string[], passwordFile: string | undefined) {
    this.#users = new Set(users);
    this.#passwordFile = passwordFile;
  }

  /** Whether any admin user is configured; without one only loopback clients are served. */
  get enabled(): boolean {
    return this.#users.size > 0;
  }

  /**
   * Whether `user` is an admin and `password` is theirs. Every attempt costs one password check,
   * also for names that are no admin or not in the file, so timing tells no names.
   */
  async verify(user: string, password: string): Promise<boolean> {
    let hashes = new Map<string, string>();
    try {
      hashes = parsePasswordFile(await readFile(this.#passwordFile!, "utf8"), this.#passwordFile);
    } catch {
      // An unreadable file lets nobody in; the check below still costs its usual time.
    }
    const hash = this.#users.has(user) ? hashes.get(user) : undefined;
    const check = this.#checks.add(() =>
      verifyPassword(password, hash ?? decoyFor(hashes), this.#pool)
    );
    if (check === undefined) return false;
    return (await check) && hash !== undefined;
  }

  /** Starts a session for `user`; returns its token. */
  startSession(user: string, now = Date.now()): string {
    if (this.#sessions.size >= MAX_SESSIONS) {
      this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const token = newToken();
    this.#sessions.set(token, { user, expires: now + SESSION_SECONDS * 1000 });
    return token;
  }

  /** The user of a live session, or undefined. */
  sessionUser(token: string | undefined, now = Date.now()): string | undefined {
    if (token === undefined) return undefined;
    const session = this.#sessions.get(token);
    if (!session) return undefined;
    if (session.expires <= now || !this.#users.has(session.user)) {
      this.#sessions.delete(token);
      return undefined;
    }
    return session.user;
  }

  /** Ends a session; unknown tokens are ignored. */
  endSession(token: string | undefined): void {
    if (token !== undefined) this.#sessions.delete(token);
  }

  /** Refuses pending and later checks and ends the hashing thread. */
  close(): Promise<void> {
    this.#checks.close();
    return this.#pool.close();
  }
}
