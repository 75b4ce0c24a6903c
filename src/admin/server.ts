/**
 * What a `type: http` listener serves: `/metrics`, `/healthz` and `/readyz`, behind the access
 * rules of `access.ts`.
 *
 * @module
 */
import type { HttpHandler } from "../runtime/types.ts";
import { isLoopback, PUBLIC_PATHS } from "./access.ts";
import { CONTENT_TYPES, negotiateFormat, renderExposition } from "./exposition.ts";
import { LagMonitor } from "./lag.ts";
import { brokerMetrics, type MetricsSource } from "./metrics.ts";
import { Readiness } from "./readiness.ts";

/** What the admin endpoints read of the broker. */
export type AdminSource = Omit<
  MetricsSource,
  "eventLoopLagSeconds" | "adminLoginFailures" | "startedAt"
>;

/** Headers on every answer: nothing is cached, nothing is sniffed. */
const COMMON_HEADERS = { "cache-control": "no-store", "x-content-type-options": "nosniff" };

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "application/json" },
  });
}

/** The admin endpoints of one broker; `stop()` ends their timer. */
export class AdminServer {
  /** `/readyz`'s checks; add one for each part that must be reachable. */
  readonly readiness: Readiness = new Readiness();
  readonly #source: AdminSource;
  readonly #lag = new LagMonitor();
  readonly #startedAt = Date.now();
  #loginFailures = 0;

  constructor(source: AdminSource) {
    this.#source = source;
  }

  /** The request handler for every `type: http` listener. */
  readonly handle: HttpHandler = async (request, peer) => {
    const path = new URL(request.url).pathname;
    if (!PUBLIC_PATHS.has(path) && !isLoopback(peer.hostname)) {
      return text(403, "only loopback clients may use this listener: no admin users configured\n");
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    }
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
    });
    return text(200, renderExposition(families, format), { "content-type": CONTENT_TYPES[format] });
  }

  /** Stops the event-loop lag timer. */
  stop(): void {
    this.#lag.stop();
  }
}
