/**
 * `node:http` requests and responses as web-standard `Request` and `Response`, for the Node
 * adapter's (and so Deno's) `serve`. Bun hands its handler web-standard types already.
 *
 * @module
 */
import type http from "node:http";
import type { HttpHandler } from "./types.ts";

/**
 * Largest request body read; a bigger one is answered 413 without being read on. The admin API
 * takes small JSON documents only.
 */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/** The body of `req`, or `undefined` when it exceeds {@link MAX_REQUEST_BODY_BYTES}. */
async function readBody(
  req: http.IncomingMessage,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_REQUEST_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return body;
}

function requestHeaders(req: http.IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i], raw[i + 1]);
    } catch {
      // A header the Fetch standard forbids cannot matter to a handler in web-standard types.
    }
  }
  return headers;
}

/** Writes `response` to `res`, streaming its body and stopping when the client goes away. */
async function writeResponse(response: Response, res: http.ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  res.on("close", () => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve));
    }
  } catch {
    // The client left or the body failed: nothing more can be said on this response.
  }
  res.end();
}

/** A `node:http` request listener that answers through `handler`. */
export function nodeRequestListener(
  handler: HttpHandler,
  secure: boolean,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return async (req, res) => {
    res.on("error", () => {});
    const method = req.method ?? "GET";
    const hasBody = method !== "GET" && method !== "HEAD";
    const body = hasBody ? await readBody(req) : undefined;
    if (hasBody && body === undefined) {
      res.writeHead(413, { "content-type": "text/plain", connection: "close" });
      res.end("request body too large\n");
      return;
    }
    const aborted = new AbortController();
    res.on("close", () => aborted.abort());
    let request: Request;
    try {
      // The Host header only names the URL; no routing or access decision is made on it.
      const host = req.headers.host ?? "localhost";
      request = new Request(`${secure ? "https" : "http"}://${host}${req.url ?? "/"}`, {
        method,
        headers: requestHeaders(req),
        body: body && body.byteLength > 0 ? body : undefined,
        signal: aborted.signal,
      });
    } catch {
      res.writeHead(400, { "content-type": "text/plain", connection: "close" });
      res.end("malformed request\n");
      return;
    }
    let response: Response;
    try {
      response = await handler(request, {
        hostname: req.socket.remoteAddress ?? "",
        port: req.socket.remotePort ?? 0,
      });
    } catch {
      response = new Response("internal error\n", { status: 500 });
    }
    await writeResponse(response, res);
  };
}
