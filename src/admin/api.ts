/**
 * The JSON admin API under `/api/`: clients (and disconnecting one), sessions, subscriptions,
 * retained messages (by filter, and deleting one), publishing, and the running configuration with
 * secrets redacted. Lists are read when asked and capped at {@link MAX_ITEMS} entries.
 *
 * @module
 */
import type { PublishOptions, Unsubscribe } from "../broker/broker.ts";
import type { MessageHandler } from "../broker/local.ts";
import type { Session } from "../broker/session.ts";
import type { Gauges } from "../broker/core.ts";
import type { Stats } from "../broker/stats.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { topicFilterError } from "../protocol/topic.ts";
import { redactConfig } from "./redact.ts";
import { json } from "./respond.ts";
import { type BridgeFiguresByName, bridgeItems } from "./bridge_metrics.ts";

/** Most entries one list answer holds; `truncated` says when there were more. */
export const MAX_ITEMS = 10_000;

/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Live views (`/api/stream`) open at once; more get 429. */
export const MAX_STREAMS = 16;

/** Messages a live view holds for a slow reader; past it messages are skipped for it. */
const STREAM_BACKLOG = 256;

/** What the API reads and does. */
export interface ApiSource {
  readonly stats: Readonly<Stats>;
  readonly gauges: Gauges;
  /** Every session, connected or not. */
  readonly sessions: Iterable<Session>;
  readonly config: ResolvedConfig;
  publish(options: PublishOptions): void;
  subscribe(filter: string, handler: MessageHandler): Unsubscribe;
  /** The bridges' figures by name (none when absent). */
  readonly bridges?: () => BridgeFiguresByName;
}

const PROTOCOLS: Record<number, string> = { 3: "3.1", 4: "3.1.1", 5: "5.0" };

const strict = new TextDecoder("utf-8", { fatal: true });

/** A payload as UTF-8 text when it is that, else base64. */
function payloadOf(bytes: Uint8Array): { payload: string; encoding: "utf8" | "base64" } {
  try {
    return { payload: strict.decode(bytes), encoding: "utf8" };
  } catch {
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return { payload: btoa(binary), encoding: "base64" };
  }
}

function listed<T>(items: T[], truncated: boolean): Response {
  return json(200, { items, truncated });
}

/** One connected client, as the API shows it. */
function clientOf(session: Session) {
  const client = session.client!;
  const info = session.info!;
  return {
    clientId: session.clientId,
    user: info.username ?? null,
    address: `${info.remoteAddr.hostname}:${info.remoteAddr.port}`,
    transport: info.remoteAddr.transport,
    listener: info.listener,
    protocol: PROTOCOLS[info.protocolVersion] ?? String(info.protocolVersion),
    since: new Date(client.acceptedAt).toISOString(),
    keepalive: client.keepaliveMs / 1000,
    subscriptions: session.subscriptions.size,
    inflight: session.inflight.size,
    queued: session.queue.length,
    drops: session.dropped,
  };
}

/** The request's body as JSON, or a Response saying why it is not. */
async function readJson(request: Request): Promise<unknown> {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) return json(413, { error: "request body too large" });
  if (!/^application\/json\b/i.test(request.headers.get("content-type") ?? "")) {
    return json(415, { error: "send the body as application/json" });
  }
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) return json(413, { error: "request body too large" });
  try {
    return JSON.parse(text);
  } catch {
    return json(400, { error: "the body is not valid JSON" });
  }
}

/** The admin API over one broker. */
export class AdminApi {
  readonly #source: ApiSource;
  #streams = 0;

  constructor(source: ApiSource) {
    this.#source = source;
  }

  /** Answers a request for `path` (which starts with `/api/`), or undefined for no such route. */
  async handle(request: Request, path: string): Promise<Response | undefined> {
    const url = new URL(request.url);
    const method = request.method;
    const clientPath = /^\/api\/clients\/(.+)$/.exec(path);
    if (clientPath) {
      if (method !== "DELETE") return undefined;
      return this.#disconnect(decodeURIComponent(clientPath[1]));
    }
    const route = `${method} ${path}`;
    switch (route) {
      case "GET /api/clients":
        return this.#clients(url.searchParams.get("search") ?? "");
      case "GET /api/sessions":
        return this.#sessions();
      case "GET /api/subscriptions":
        return this.#subscriptions();
      case "GET /api/retained":
        return this.#retained(url.searchParams.get("filter") ?? "#");
      case "DELETE /api/retained":
        return this.#deleteRetained(url.searchParams.get("topic"));
      case "POST /api/publish":
        return this.#publish(await readJson(request));
      case "GET /api/config":
        return json(200, redactConfig(this.#source.config));
      case "GET /api/bridges":
        return listed(bridgeItems(this.#source.bridges?.() ?? new Map()), false);
      case "GET /api/overview":
        return this.#overview();
      case "GET /api/stream":
        return this.#stream(url.searchParams.get("filter") ?? "#", request.signal);
      default:
        return undefined;
    }
  }

  #clients(search: string): Response {
    const needle = search.toLowerCase();
    const items = [];
    for (const session of this.#source.sessions) {
      if (!session.client || !session.info) continue;
      const client = clientOf(session);
      const haystack = `${client.clientId} ${client.user ?? ""} ${client.address}`.toLowerCase();
      if (needle && !haystack.includes(needle)) continue;
      if (items.length === MAX_ITEMS) return listed(items, true);
      items.push(client);
    }
    return listed(items, false);
  }

  /** The figures the dashboard's cards and charts show; rates are the dashboard's job. */
  #overview(): Response {
    const s = this.#source.stats;
    const g = this.#source.gauges;
    return json(200, {
      time: Date.now(),
      uptime: g.uptimeSeconds,
      clients: g.clientsConnected,
      sessions: g.sessionsTotal,
      subscriptions: g.subscriptions,
      retained: g.retained,
      inflight: g.inflight,
      queued: g.queued,
      messagesIn: s.publishReceived,
      messagesOut: s.publishSent,
      dropped: s.droppedQos0 + s.droppedQueued + s.droppedTooLarge + s.messagesExpired +
        s.sharedDropped,
    });
  }

  /**
   * Server-sent events, one per message matching `filter` (retained ones first), until the
   * client goes away. A reader that falls {@link STREAM_BACKLOG} messages behind misses messages
   * rather than making the broker hold them.
   */
  #stream(filter: string, signal: AbortSignal): Response {
    const why = topicFilterError(filter);
    if (why) return json(400, { error: `filter ${JSON.stringify(filter)}: ${why}` });
    if (this.#streams >= MAX_STREAMS) {
      return json(429, { error: `${MAX_STREAMS} live views are open already` });
    }
    this.#streams++;
    const encoder = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let open = true;
        const unsubscribe = this.#source.subscribe(filter, (message) => {
          if ((controller.desiredSize ?? 0) <= 0) return;
          const event = {
            topic: message.topic,
            qos: message.qos,
            retain: message.retain,
            ...payloadOf(message.payload),
          };
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        });
        stop = () => {
          if (!open) return;
          open = false;
          unsubscribe();
          this.#streams--;
          signal.removeEventListener("abort", stop);
          try {
            controller.close();
          } catch {
            // Already cancelled by the reader.
          }
        };
        signal.addEventListener("abort", stop);
        if (signal.aborted) stop();
        // A comment, so that the client sees the stream open before any message.
        else controller.enqueue(encoder.encode(": watching\n\n"));
      },
      cancel: () => stop(),
    }, { highWaterMark: STREAM_BACKLOG });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }

  #disconnect(clientId: string): Response {
    for (const session of this.#source.sessions) {
      if (session.clientId !== clientId || !session.client) continue;
      session.client.close("admin", "disconnected by an administrator");
      return new Response(null, { status: 204 });
    }
    return json(404, { error: `no client ${JSON.stringify(clientId)} is connected` });
  }

  #sessions(): Response {
    const items = [];
    for (const session of this.#source.sessions) {
      if (items.length === MAX_ITEMS) return listed(items, true);
      items.push({
        clientId: session.clientId,
        user: session.info?.username ?? null,
        connected: session.client !== undefined,
        subscriptions: session.subscriptions.size,
        inflight: session.inflight.size,
        queued: session.queue.length,
        drops: session.dropped,
        expiry: Number.isFinite(session.expiryMs) ? session.expiryMs / 1000 : null,
      });
    }
    return listed(items, false);
  }

  #subscriptions(): Response {
    const items = [];
    for (const session of this.#source.sessions) {
      for (const [filter, options] of session.subscriptions) {
        if (items.length === MAX_ITEMS) return listed(items, true);
        items.push({ clientId: session.clientId, filter, qos: options.qos });
      }
    }
    return listed(items, false);
  }

  #retained(filter: string): Response {
    const why = topicFilterError(filter);
    if (why) return json(400, { error: `filter ${JSON.stringify(filter)}: ${why}` });
    const items: unknown[] = [];
    let truncated = false;
    // An embedder subscription gets the retained messages at once, before it returns.
    this.#source.subscribe(filter, (message) => {
      if (!message.retain) return;
      if (items.length === MAX_ITEMS) {
        truncated = true;
        return;
      }
      items.push({
        topic: message.topic,
        qos: message.qos,
        bytes: message.payload.byteLength,
        ...payloadOf(message.payload),
      });
    })();
    return listed(items, truncated);
  }

  #deleteRetained(topic: string | null): Response {
    if (!topic) return json(400, { error: "give the topic: DELETE /api/retained?topic=a/b" });
    // An empty retained message deletes the topic's retained message, as MQTT defines it.
    return this.#publish({ topic, payload: "", retain: true });
  }

  #publish(body: unknown): Response {
    if (body instanceof Response) return body;
    if (typeof body !== "object" || body === null) {
      return json(400, { error: "send {topic, payload, qos, retain}" });
    }
    const { topic, payload, qos, retain } = body as Record<string, unknown>;
    try {
      this.#source.publish({ topic, payload, qos, retain } as PublishOptions);
    } catch (error) {
      return json(400, { error: (error as Error).message });
    }
    return new Response(null, { status: 204 });
  }
}
