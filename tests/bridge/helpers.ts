/**
 * Bridge test helpers: a remote broker and an edge broker bridged to it, a TCP proxy whose link
 * can be cut, and message collectors on an embedder subscription.
 *
 * @module
 */
import net from "node:net";
import type { Broker } from "../../src/broker/broker.ts";
import type { BridgeConfig, BrokerConfig } from "../../src/config/types.ts";
import type { Message } from "../../src/plugins/types.ts";
import type { QoS } from "../../src/protocol/packets.ts";
import { eventually, startBroker } from "../helpers/broker.ts";
import { PacketFramer } from "../../src/protocol/framer.ts";
import { bodyStart } from "../../src/protocol/reader.ts";

/** Fast reconnects for tests. */
export const FAST = { reconnect: { min: 0.05, max: 0.2 } } as const;

/** A broker on a given port (0: a free one). */
export async function brokerOn(port = 0, config: BrokerConfig = {}) {
  return await startBroker({ listeners: { default: { bind: `127.0.0.1:${port}` } }, ...config });
}

/** A port nothing listens on: bound once, then closed. */
export async function freePort(): Promise<number> {
  const b = await brokerOn();
  await b.broker.close();
  return b.port;
}

/** The bridge's retained state topic, recorded, and a wait for a value of it. */
export function bridgeState(broker: Broker) {
  const state = record(broker, "$SYS/broker/connection/up/state");
  return {
    state,
    wait: (value: "0" | "1") =>
      eventually(() => state.at(-1)?.payload === value, 20000, `bridge state ${value}`),
  };
}

/** An edge broker with one bridge named `up`. */
export async function edge(bridge: BridgeConfig, config: BrokerConfig = {}) {
  return await brokerOn(0, { bridges: { up: { ...FAST, ...bridge } }, ...config });
}

/** Every message `filter` gets on `broker`, payloads as text. */
export function record(broker: Broker, filter: string) {
  const out: (Omit<Message, "payload"> & { payload: string })[] = [];
  broker.subscribe(filter, (m) => {
    out.push({ ...m, payload: new TextDecoder().decode(m.payload) });
  });
  return out;
}

/** A TCP proxy to `port` on 127.0.0.1 whose connections {@link Proxy.cut} drops. */
export class Proxy {
  readonly #sockets = new Set<net.Socket>();
  readonly #server: net.Server;
  port = 0;

  private constructor(target: number) {
    this.#server = net.createServer((inbound) => {
      const outbound = net.connect(target, "127.0.0.1");
      for (const s of [inbound, outbound]) {
        this.#sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          this.#sockets.delete(s);
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
  }

  /** Starts a proxy on a free port. */
  static async start(target: number): Promise<Proxy> {
    const proxy = new Proxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  /** Drops every connection through the proxy, as a bad link does. */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Bridges an edge to the remote on `remotePort` through a {@link Proxy}, publishes `total`
 * messages (payloads "0" to `total - 1`) out on `f/x` at `qos`, cuts the link three times while
 * they flow, and resolves with how often each payload arrived once all of them did. `got` is
 * where the remote's `f/#` messages land; the edge and the proxy are closed at the end.
 */
export async function floodAcrossCuts(
  remotePort: number,
  got: { payload: string }[],
  qos: QoS,
  total = 300,
): Promise<Map<string, number>> {
  const proxy = await Proxy.start(remotePort);
  const local = await edge({
    address: `mqtt://127.0.0.1:${proxy.port}`,
    topics: [{ pattern: "f/#", qos }],
  });
  const bridge = bridgeState(local.broker);
  try {
    await bridge.wait("1");
    for (let i = 0; i < total; i++) {
      local.broker.publish({ topic: "f/x", payload: String(i), qos });
      if (i % 100 === 50) {
        await eventually(() => got.length > i - 50, 20000, "some messages through");
        proxy.cut();
        await bridge.wait("0");
      }
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    await eventually(() => counts(got).size === total, 20000, `all ${total} at the remote`);
    return counts(got);
  } finally {
    await local.broker.close();
    await proxy.close();
  }
}

/**
 * Waits until the markers sent last each way have arrived on both sides: `mark-l` crossing to
 * the remote and `mark-r` crossing here, and each where it was sent, whose own subscriber may
 * get it after the bridge does. A loop's copies of what was sent before would be on the way
 * before them.
 */
export async function markersArrived(
  atLocal: { payload: string }[],
  atRemote: { payload: string }[],
): Promise<void> {
  const both = (payload: string) =>
    atRemote.some((m) => m.payload === payload) && atLocal.some((m) => m.payload === payload);
  await eventually(() => both("mark-l") && both("mark-r"), 20000, "the markers");
}

/** How often each payload arrived. */
export function counts(messages: { payload: string }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of messages) out.set(m.payload, (out.get(m.payload) ?? 0) + 1);
  return out;
}

/**
 * A remote that accepts the bridge's CONNECT and holds back its PUBACKs until
 * {@link SilentRemote.ack} says otherwise: a remote slower than the edge's publishers.
 */
export class SilentRemote {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  /** Packet identifiers of the QoS 1 PUBLISHes received, and not acknowledged yet. */
  readonly unacked: { socket: net.Socket; packetId: number }[] = [];
  received = 0;
  #acking = false;
  port = 0;

  private constructor() {
    this.#server = net.createServer((socket) => {
      this.#sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => this.#sockets.delete(socket));
      const framer = new PacketFramer(1 << 20);
      socket.on("data", (chunk) => {
        framer.push(chunk);
        let frame: Uint8Array | undefined;
        while ((frame = framer.next())) this.#packet(socket, frame);
      });
    });
  }

  #packet(socket: net.Socket, frame: Uint8Array): void {
    const type = frame[0] >> 4;
    if (type === 1) socket.write(Uint8Array.of(0x20, 2, 0, 0));
    else if (type === 12) socket.write(Uint8Array.of(0xd0, 0));
    else if (type === 3 && ((frame[0] >> 1) & 3) === 1) {
      this.received++;
      const at = bodyStart(frame);
      const topicLength = (frame[at] << 8) | frame[at + 1];
      const packetId = (frame[at + 2 + topicLength] << 8) | frame[at + 3 + topicLength];
      this.unacked.push({ socket, packetId });
      if (this.#acking) this.ack();
    }
  }

  /** Acknowledges everything received, and from now on everything that comes. */
  ack(): void {
    this.#acking = true;
    for (const { socket, packetId } of this.unacked.splice(0)) {
      socket.write(Uint8Array.of(0x40, 2, packetId >> 8, packetId & 0xff));
    }
  }

  /** Starts one on a free port. */
  static async start(): Promise<SilentRemote> {
    const remote = new SilentRemote();
    await new Promise<void>((resolve) => remote.#server.listen(0, "127.0.0.1", resolve));
    remote.port = (remote.#server.address() as net.AddressInfo).port;
    return remote;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
