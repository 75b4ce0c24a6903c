/**
 * Hostile-input helpers shared by `tests/hostile/` and `scripts/fuzz.ts`: a seeded random source,
 * raw packet builders, a generator of malformed cases, and a runner that plays one case over its
 * own TCP connection.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import process from "node:process";

const utf8 = new TextEncoder();

/** A seeded pseudo-random source (mulberry32): the same seed gives the same cases everywhere. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The remaining-length bytes for `n` (up to 268435455). */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A length-prefixed field from raw bytes. */
export function field(bytes: ArrayLike<number>): number[] {
  return [bytes.length >> 8, bytes.length & 0xff, ...Array.from(bytes)];
}

/** A length-prefixed UTF-8 string. */
export function str(text: string): number[] {
  return field(utf8.encode(text));
}

/** A whole packet: first byte, remaining length, body. */
export function packet(first: number, body: ArrayLike<number>): Uint8Array {
  const head = [first, ...varint(body.length)];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body instanceof Uint8Array ? body : Array.from(body), head.length);
  return out;
}

/** CONNECT (MQTT 3.1.1, clean session, keepalive 0). */
export function connectPacket(clientId: string): Uint8Array {
  return packet(0x10, [...str("MQTT"), 4, 0x02, 0, 0, ...str(clientId)]);
}

/** PUBLISH with a topic given as raw bytes. */
export function publishPacket(
  topic: ArrayLike<number>,
  payload: ArrayLike<number>,
  qos: number,
  packetId = 1,
): Uint8Array {
  const id = qos > 0 ? [packetId >> 8, packetId & 0xff] : [];
  return packet(0x30 | (qos << 1), [...field(topic), ...id, ...Array.from(payload)]);
}

/** SUBSCRIBE with filters given as raw bytes. */
export function subscribePacket(filters: [ArrayLike<number>, number][], packetId = 1): Uint8Array {
  const body = [packetId >> 8, packetId & 0xff];
  for (const [filter, qos] of filters) body.push(...field(filter), qos);
  return packet(0x82, body);
}

/** A topic of `levels` levels: `a/a/.../a`. */
export function deepTopic(levels: number): Uint8Array {
  return utf8.encode(new Array(levels).fill("a").join("/"));
}

/** One generated case: the chunks to send, and what kind of damage it carries. */
export interface FuzzCase {
  kind: string;
  chunks: Uint8Array[];
}

const ascii = (s: string) => Array.from(utf8.encode(s));

function validPacket(r: Random, id: string): Uint8Array {
  const topic = ascii(`fz/${r.int(20)}`);
  const packetId = 1 + r.int(65535);
  switch (r.int(11)) {
    case 0:
      return publishPacket(topic, r.bytes(r.int(32)), 0);
    case 1:
      return publishPacket(topic, r.bytes(r.int(32)), 1, packetId);
    case 2:
      return publishPacket(topic, r.bytes(r.int(32)), 2, packetId);
    case 3:
      return subscribePacket([[ascii("fz/+"), r.int(3)]], packetId);
    case 4:
      return packet(0xa2, [packetId >> 8, packetId & 0xff, ...str("fz/#")]);
    case 5:
      return packet(0x40, [0, 1 + r.int(200)]);
    case 6:
      return packet(0x50, [0, 1 + r.int(200)]);
    case 7:
      return packet(0x62, [0, 1 + r.int(200)]);
    case 8:
      return packet(0x70, [0, 1 + r.int(200)]);
    case 9:
      return Uint8Array.of(0xc0, 0);
    default:
      return connectPacket(id);
  }
}

/** Deep-topic packets are costly to build, and their exact depth does not matter: build a few. */
const deepPackets: Uint8Array[] = [];
function deepPacket(r: Random): Uint8Array {
  if (deepPackets.length === 0) {
    for (const levels of [1025, 5000, 30000]) {
      const topic = deepTopic(levels);
      deepPackets.push(publishPacket(topic, [1], 0), subscribePacket([[topic, 0]]));
    }
  }
  return r.pick(deepPackets);
}

function flipBits(r: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  for (let n = 1 + r.int(4); n > 0; n--) out[r.int(out.length)] ^= 1 << r.int(8);
  return out;
}

/** Makes one malformed case; `id` is the client id its CONNECT (if any) uses. */
export function makeCase(r: Random, id: string): FuzzCase {
  const any = () => validPacket(r, id);
  const kinds: [string, () => Uint8Array[]][] = [
    ["random bytes", () => [r.bytes(1 + r.int(200))]],
    ["random bytes after CONNECT", () => [connectPacket(id), r.bytes(1 + r.int(200))]],
    ["truncated", () => {
      const p = any();
      return [connectPacket(id), p.subarray(0, r.int(p.length))];
    }],
    ["bit-flipped", () => [connectPacket(id), flipBits(r, any())]],
    ["bit-flipped CONNECT", () => [flipBits(r, connectPacket(id)), any()]],
    ["huge remaining length", () => {
      const claimed = 1 + r.int(268435455);
      return [
        connectPacket(id),
        Uint8Array.of(r.pick([0x30, 0x32, 0x82, 0x10]), ...varint(claimed)),
        r.bytes(r.int(64)),
      ];
    }],
    ["five-byte remaining length", () => [Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x7f)]],
    ["invalid UTF-8 topic", () => [connectPacket(id), publishPacket([0x66, 0xc3, 0x28], [1], 0)]],
    ["U+0000 in topic", () => [connectPacket(id), publishPacket([0x66, 0x00, 0x66], [1], 1)]],
    ["U+0000 in filter", () => [connectPacket(id), subscribePacket([[[0x66, 0x00], 0]])]],
    [
      "wildcard in PUBLISH topic",
      () => [connectPacket(id), publishPacket(ascii(r.pick(["a/+", "#", "a/#/b"])), [1], r.int(3))],
    ],
    ["QoS 3", () => [connectPacket(id), publishPacket(ascii("fz/q"), [1], 3)]],
    [
      "reserved flags",
      () => [
        connectPacket(id),
        packet(r.pick([0x80, 0x83, 0xa0, 0x42, 0xc1, 0xe8]), [0, 1, ...str("x"), 0]),
      ],
    ],
    [
      "packet id 0",
      () => [
        connectPacket(id),
        r.pick([
          publishPacket(ascii("fz/z"), [1], 1, 0),
          subscribePacket([[ascii("fz"), 0]], 0),
          packet(0x40, [0, 0]),
        ]),
      ],
    ],
    ["empty SUBSCRIBE", () => [connectPacket(id), packet(0x82, [0, 1])]],
    ["SUBSCRIBE QoS 3", () => [connectPacket(id), subscribePacket([[ascii("fz"), 3]])]],
    ["thousands of levels", () => [connectPacket(id), deepPacket(r)]],
    ["second CONNECT", () => [connectPacket(id), connectPacket(id)]],
    ["packet before CONNECT", () => [any()]],
    [
      "server-only packet type",
      () => [connectPacket(id), packet(r.pick([0x20, 0x90, 0xb0, 0xd0, 0xf0, 0x00]), [0, 0])],
    ],
  ];
  const [kind, make] = r.pick(kinds);
  const whole = make();
  // Sometimes split the bytes at random points, to exercise reassembly.
  if (r.next() < 0.3) {
    const joined = Buffer.concat(whole);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < joined.length;) {
      const n = 1 + r.int(Math.max(1, joined.length - at));
      chunks.push(joined.subarray(at, at + n));
      at += n;
    }
    return { kind, chunks };
  }
  return { kind, chunks: whole };
}

/**
 * Plays one case on a fresh connection: sends the chunks, half-closes, and resolves once the
 * broker has closed its side (or after `ms`, when the socket is destroyed and `false` returned).
 */
export function playCase(port: number, chunks: Uint8Array[], ms = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, ms);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on("connect", () => {
      for (const chunk of chunks) socket.write(chunk);
      socket.end();
    });
  });
}

/** Runs `count` generated cases, `concurrency` at a time; returns the cases per kind. */
export async function fuzz(
  port: number,
  options: { seed: number; count: number; concurrency: number; onHang?: (c: FuzzCase) => void },
): Promise<Map<string, number>> {
  const r = new Random(options.seed);
  const kinds = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < options.count) {
      const n = next++;
      const c = makeCase(r, `fz-${n}`);
      kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
      if (!await playCase(port, c.chunks)) options.onHang?.(c);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return kinds;
}

/** A broker running in a child process, for figures that must not include the load generator. */
export interface ChildBroker {
  readonly pid: number;
  readonly port: number;
  /** Lines the broker logged (stderr), kept for counting. */
  readonly lines: string[];
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `src/cli.ts` on `runtime` with `config` (JSON is YAML) on 127.0.0.1 and a free port, and
 * resolves once it listens.
 */
export async function spawnBroker(
  config: Record<string, unknown>,
  runtime: "node" | "deno" | "bun" = "node",
): Promise<ChildBroker> {
  const { spawn } = await import("node:child_process");
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const file = join(mkdtempSync(join(tmpdir(), "broker-")), "broker.yaml");
  writeFileSync(
    file,
    JSON.stringify({ listeners: { default: { bind: "127.0.0.1:0" } }, ...config }),
  );
  const bin = (name: string) => join("node_modules", ".bin", name);
  const [cmd, args] = runtime === "deno"
    ? [bin("deno"), ["run", "-A", "src/cli.ts", "-c", file]]
    : runtime === "bun"
    ? [bin("bun"), ["src/cli.ts", "-c", file]]
    : [process.execPath, ["--import", "tsx", "src/cli.ts", "-c", file]];
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  const lines: string[] = [];
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      alive = false;
      resolve(code);
    })
  );
  const port = await new Promise<number>((resolve, reject) => {
    let rest = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      rest += chunk.toString();
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const ready = / ready on mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(line);
        if (ready) resolve(Number(ready[1]));
      }
    });
    exited.then((code) => reject(new Error(`broker exited with ${code}: ${lines.join("\n")}`)));
  });
  return {
    pid: child.pid!,
    port,
    lines,
    get alive() {
      return alive;
    },
    stop() {
      if (alive) child.kill("SIGTERM");
      return exited;
    },
  };
}
