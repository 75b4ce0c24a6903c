/**
 * What a `type: http` listener serves: the dashboard at `/`, `/metrics`, `/healthz`, `/readyz`
 * and the JSON API under `/api/`, every request for data checked by the rules of `access.ts` and `login.ts`.
 *
 * @module
 */
import type { BoundListener } from "../broker/core.ts";
import type { Logger } from "../log.ts";
import type { HttpHandler } from "../runtime/types.ts";
import { isLoopback, isLoopbackName, PUBLIC_PATHS, sameOrigin } from "./access.ts";
import { AdminApi, type ApiSource } from "./api.ts";
import { DASHBOARD_PATHS, dashboardFile } from "./dashboard/assets.ts";
import { CONTENT_TYPES, negotiateFormat, renderExposition } from "./exposition.ts";
import { LagMonitor } from "./lag.ts";
import {
  AdminLogin,
  basicCredentials,
  cookieValue,
  SESSION_COOKIE,
  SESSION_SECONDS,
} from "./login.ts";
import { brokerMetrics, type MetricsSource } from "./metrics.ts";
import { bridgeMetrics } from "./bridge_metrics.ts";
import { Readiness } from "./readiness.ts";
import { json, text } from "./respond.ts";

/** What the admin endpoints read of the broker. */
export type AdminSource =
  & Omit<MetricsSource, "eventLoopLagSeconds" | "adminLoginFailures" | "startedAt">
  & ApiSource;

const UNAUTHORIZED = { "www-authenticate": 'Basic realm="broker admin", charset="UTF-8"' };

/** The admin endpoints of one broker; `stop()` ends their timer and pending checks. */
export class AdminServer {
  /** `/readyz`'s checks; add one for each part that must be reachable. */
  readonly readiness: Readiness = new Readiness();
  readonly #source: AdminSource;
  readonly #api: AdminApi;
  readonly #login: AdminLogin;
  readonly #logger: Logger;
  readonly #publicMetrics: boolean;
  readonly #lag = new LagMonitor();
  readonly #startedAt = Date.now();
  #loginFailures = 0;

  constructor(source: AdminSource, logger: Logger) {
    this.#source = source;
    this.#api = new AdminApi(source);
    this.#logger = logger;
    const { admin, auth } = source.config;
    this.#login = new AdminLogin(admin.users, auth.passwordFile);
    this.#publicMetrics = admin.publicMetrics;
  }

  /**
   * Logs at start who may use a `type: http` listener, and warns when admin passwords would
   * cross the network unencrypted.
   */
  announce(listener: BoundListener): void {
    const name = listener.name;
    const open = this.#publicMetrics
      ? "/healthz, /readyz and /metrics are"
      : "/healthz and /readyz are";
    if (!this.#login.enabled) {
      this.#logger.info(
        `listener ${name}: no admin users configured, so only loopback clients are served ` +
          `(${open} public)`,
      );
      return;
    }
    this.#logger.info(
      `listener ${name}: admin users ${this.#source.config.admin.users.join(", ")} ` +
        `log in (basic auth or POST /api/login); ${open} public`,
    );
    if (!listener.tls && !isLoopback(listener.hostname)) {
      this.#logger.warn(
        `listener ${name}: plain HTTP on ${listener.hostname}: admin passwords and session ` +
          "cookies cross the network unencrypted; set ssl: on",
      );
    }
  }

  /** The request handler for every `type: http` listener. */
  readonly handle: HttpHandler = async (request, peer) => {
    const url = new URL(request.url);
    const path = url.pathname;
    const reading = request.method === "GET" || request.method === "HEAD";
    if (reading && DASHBOARD_PATHS.has(path)) return dashboardFile(path)!;
    const isPublic = PUBLIC_PATHS.has(path) || (path === "/metrics" && this.#publicMetrics);
    if (!reading && !sameOrigin(request)) {
      return text(403, "cross-origin requests are refused\n");
    }
    if (!isPublic) {
      const denied = await this.#check(request, peer, url, path);
      if (denied) return denied;
    }
    if (path.startsWith("/api/")) {
      return await this.#api.handle(request, path) ?? json(404, { error: "no such API route" });
    }
    if (!reading) return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    switch (path) {
      case "/healthz":
        return text(200, "ok\n");
      case "/readyz": {
        const { ready, checks } = await this.readiness.run();
        return json(ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
      }
      case "/metrics":
        return this.#metrics(request);
      default:
        return text(404, "not found\n");
    }
  };

  /** Undefined when the request may go on, else the refusal; answers login and logout itself. */
  async #check(
    request: Request,
    peer: { hostname: string; port: number },
    url: URL,
    path: string,
  ): Promise<Response | undefined> {
    if (!this.#login.enabled) {
      if (isLoopback(peer.hostname) && isLoopbackName(url.hostname)) return undefined;
      return text(403, "only loopback clients may use this listener: no admin users configured\n");
    }
    const token = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
    if (path === "/api/logout" && request.method === "POST") {
      this.#login.endSession(token);
      return new Response(null, {
        status: 204,
        headers: { "set-cookie": this.#cookie(url, "", 0) },
      });
    }
    const login = path === "/api/login" && request.method === "POST";
    if (!login && this.#login.sessionUser(token) !== undefined) return undefined;
    const credentials = basicCredentials(request.headers.get("authorization")) ??
      (login ? await loginBody(request) : undefined);
    // The dashboard shows its own login form rather than the browser's dialog.
    const challenge = request.headers.has("x-broker-dashboard") ? {} : UNAUTHORIZED;
    if (!credentials) return json(401, { error: "log in first" }, challenge);
    if (!(await this.#login.verify(credentials.user, credentials.password))) {
      this.#loginFailures++;
      this.#logger.warn(
        `admin: failed login as ${
          JSON.stringify(credentials.user)
        } from ${peer.hostname}:${peer.port}`,
      );
      return json(401, { error: "wrong user name or password" }, challenge);
    }
    if (!login) return undefined;
    const cookie = this.#cookie(url, this.#login.startSession(credentials.user), SESSION_SECONDS);
    return json(200, { user: credentials.user }, { "set-cookie": cookie });
  }

  #cookie(url: URL, value: string, maxAge: number): string {
    const secure = url.protocol === "https:" ? "; Secure" : "";
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
  }

  #metrics(request: Request): Response {
    const format = negotiateFormat(request.headers.get("accept"));
    const families = brokerMetrics({
      stats: this.#source.stats,
      gauges: this.#source.gauges,
      listeners: this.#source.listeners,
      connectionsByListener: this.#source.connectionsByListener,
      eventLoopLagSeconds: this.#lag.seconds,
      adminLoginFailures: this.#loginFailures,
      startedAt: this.#startedAt,
      store: this.#source.store,
      cluster: this.#source.cluster,
    });
    const bridges = this.#source.bridges?.();
    if (bridges) families.push(...bridgeMetrics(bridges));
    return text(200, renderExposition(families, format), { "content-type": CONTENT_TYPES[format] });
  }

  /** Stops the event-loop lag timer, refuses pending logins and ends their hashing thread. */
  stop(): Promise<void> {
    this.#lag.stop();
    return this.#login.close();
  }
}

/** `{ "user": …, "password": … }` from a login form's JSON body. */
async function loginBody(
  request: Request,
): Promise<{ user: string; password: string } | undefined> {
  try {
    const body = JSON.parse(await request.text()) as Record<string, unknown>;
    const { user, password } = body;
    return typeof user === "string" && typeof password === "string"
      ? { user, password }
      : undefined;
  } catch {
    return undefined;
  }
}
