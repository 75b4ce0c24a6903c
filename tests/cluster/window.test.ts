/**
 * A persistent subscriber that moves between two live nodes while a publisher on a third floods
 * QoS 1 and QoS 2: every message acknowledged to the publisher arrives, QoS 2 exactly once, in
 * order per topic.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, eventually, type Packet, RawClient, sleep } from "../helpers/broker.ts";
import { redisSkip, startNode, suiteRedis } from "./helpers.ts";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/**
 * The subscribing application: it acknowledges as a client library does and keeps, across its
 * connections, the QoS 2 packet ids it has received and not yet seen released (MQTT 4.3.3), so
 * that a QoS 2 PUBLISH sent again before PUBREL is not a second delivery.
 */
class Subscriber {
  /** Payloads in the order the application got them. */
  readonly delivered: string[] = [];
  readonly #awaiting = new Set<number>();
  #raw: RawClient | undefined;
  #pumping: Promise<void> = Promise.resolve();
  #subacked: (() => void) | undefined;

  constructor(readonly clientId: string) {}

  /** Connects to `port` (taking the session over from the previous connection). */
  async connectTo(port: number): Promise<Packet> {
    const raw = await RawClient.connect(port);
    const connack = await raw.handshake({ clientId: this.clientId, clean: false });
    const previous = this.#raw;
    this.#raw = raw;
    // The previous connection's packets up to its close are the application's too.
    await this.#pumping;
    this.#pumping = this.#pump(raw);
    if (previous) await previous.waitClosed(10_000);
    return connack;
  }

  async #pump(raw: RawClient): Promise<void> {
    for (;;) {
      let packet: Packet;
      try {
        packet = await raw.next(undefined, 60_000);
      } catch {
        return;
      }
      if (packet.cmd === "publish") {
        const id = packet.messageId as number;
        const payload = String(packet.payload);
        if (packet.qos === 1) {
          this.delivered.push(payload);
          raw.send({ cmd: "puback", messageId: id });
        } else if (packet.qos === 2) {
          if (!this.#awaiting.has(id)) this.delivered.push(payload);
          this.#awaiting.add(id);
          raw.send({ cmd: "pubrec", messageId: id });
        }
      } else if (packet.cmd === "suback") this.#subacked?.();
      else if (packet.cmd === "pubrel") {
        this.#awaiting.delete(packet.messageId as number);
        raw.send({ cmd: "pubcomp", messageId: packet.messageId });
      }
    }
  }

  /** Subscribes on the current connection; resolves at SUBACK. */
  subscribe(subscriptions: { topic: string; qos: 1 | 2 }[]): Promise<void> {
    const subacked = new Promise<void>((resolve) => this.#subacked = resolve);
    this.#raw!.send({ cmd: "subscribe", messageId: 1, subscriptions });
    return subacked;
  }

  close(): void {
    this.#raw?.destroy();
  }
}

describe("cluster: a session moving between live nodes", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("a QoS 1 and a QoS 2 flood from a third node reach a subscriber moving between two nodes: all, QoS 2 once, in order", async () => {
    const a = await startNode(redis, "window-a");
    const b = await startNode(redis, "window-b");
    const c = await startNode(redis, "window-c");
    const pub = await connect(c.url, { clientId: "window-pub" });
    const sub = new Subscriber("window-sub");
    try {
      await sub.connectTo(portOf(a.url));
      await sub.subscribe([{ topic: "w/1", qos: 1 }, { topic: "w/2", qos: 2 }]);
      // Node c routes to node a once it has the filters.
      let probe = 0;
      await eventually(
        async () => {
          await pub.publishAsync("w/1", `probe ${probe++}`, { qos: 1 });
          return sub.delivered.length > 0;
        },
        10_000,
        "node c to know the subscriber's filters",
      );
      const PER_QOS = 400;
      const acknowledged: string[] = [];
      const flood = (async () => {
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < PER_QOS; i++) {
          for (const qos of [1, 2] as const) {
            const payload = `${qos}:${i}`;
            pending.push(
              pub.publishAsync(`w/${qos}`, payload, { qos }).then(() => acknowledged.push(payload)),
            );
          }
          // A steady stream rather than one burst, so that the moves fall within it.
          if (i % 20 === 19) await sleep(5);
        }
        await Promise.all(pending);
      })();
      const nodes = [b, a, b];
      for (const [move, node] of nodes.entries()) {
        const goal = Math.floor(((move + 1) * 2 * PER_QOS) / (nodes.length + 1));
        await eventually(() => sub.delivered.length >= goal, 15_000, `${goal} messages`);
        const connack = await sub.connectTo(portOf(node.url));
        assert.equal(connack.sessionPresent, true);
      }
      await flood;
      const missing = () => acknowledged.filter((p) => !sub.delivered.includes(p));
      await eventually(() => missing().length === 0, 10_000, "every acknowledged message")
        .catch(() => {
          assert.deepEqual(missing(), [], "acknowledged messages that never arrived");
        });
      const of = (qos: number) =>
        sub.delivered.filter((p) => p.startsWith(`${qos}:`)).map((p) => Number(p.slice(2)));
      const twice = of(2);
      assert.equal(new Set(twice).size, twice.length, "a QoS 2 message delivered twice");
      for (const qos of [1, 2]) {
        // A QoS 1 message may come again (resent after a move); its first arrivals are in order.
        const firsts = [...new Set(of(qos))];
        assert.deepEqual(firsts, [...firsts].sort((x, y) => x - y), `QoS ${qos} out of order`);
        assert.equal(firsts.length, PER_QOS);
      }
    } finally {
      sub.close();
      pub.end(true);
      await a.broker.close();
      await b.broker.close();
      await c.broker.close();
    }
  });
});
