/**
 * Flow control across nodes: a subscriber on one node that stops acknowledging, with a small
 * queue, while a publisher on another node floods QoS 1. Its node stops reading its inbox rather
 * than drop, the publisher's acknowledgements wait, and once the subscriber reads again every
 * acknowledged message arrives.
 *
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, eventually, type Packet, RawClient, sleep } from "../helpers/broker.ts";
import { propagated, redisSkip, startNode, suiteRedis } from "./helpers.ts";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** Sends `total` QoS 1 messages with at most `window` unacknowledged, as a well-behaved client. */
class WindowedPublisher {
  sent = 0;
  acked = 0;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(readonly raw: RawClient, readonly total: number, readonly window: number) {
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    while (this.acked < this.total && !this.#stopped) {
      while (this.sent < this.total && this.sent - this.acked < this.window) {
        this.sent++;
        this.raw.send({
          cmd: "publish",
          topic: `flow/${this.sent % 3}`,
          payload: String(this.sent),
          qos: 1,
          messageId: this.sent,
        });
      }
      const packet = await this.raw.next(undefined, 60_000).catch(() => undefined);
      if (!packet) return;
      if (packet.cmd === "puback") this.acked++;
    }
  }

  stop(): void {
    this.#stopped = true;
  }
}

describe("cluster flow control", { skip: redisSkip }, () => {
  const redis = suiteRedis();

  test("a slow subscriber on another node slows the QoS 1 publisher instead of losing messages", async () => {
    // A quarter of 40: past 10 messages unread by the other node, acknowledgements wait.
    const a = await startNode(redis, "flow-a", {
      cluster: { redis: redis.url, node: "flow-a", heartbeat: 0.5, "max-buffered-messages": 40 },
    });
    const b = await startNode(redis, "flow-b", { "max-queued-messages": 10 });
    const sub = await RawClient.connect(portOf(b.url));
    const pubRaw = await RawClient.connect(portOf(a.url));
    const other = await RawClient.connect(portOf(a.url));
    const probeA = await connect(a.url, { clientId: "flow-probe-a" });
    const probeB = await connect(b.url, { clientId: "flow-probe-b" });
    let publisher: WindowedPublisher | undefined;
    try {
      await sub.handshake({ clientId: "flow-sub" });
      sub.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "flow/#", qos: 1 }] });
      await sub.next("suback");
      // Announcements go out in order: the probe's filter arriving means this one did too.
      await propagated(probeA, probeB);
      await pubRaw.handshake({ clientId: "flow-pub" });
      await other.handshake({ clientId: "flow-other" });

      const total = 300;
      publisher = new WindowedPublisher(pubRaw, total, 10);
      // The subscriber acknowledges nothing: 20 in flight, then its queue, then the inbox waits.
      await eventually(
        () => sub.packets.filter((p) => p.cmd === "publish").length >= 20,
        20_000,
        "the subscriber's window to fill",
      );
      await eventually(
        () => publisher!.sent - publisher!.acked === 10,
        20_000,
        "the publisher to wait for its acknowledgements",
      );
      // However long this takes, the publisher cannot finish while nobody reads.
      await sleep(300);
      assert.ok(publisher.acked < total - 100, `only ${publisher.acked} acknowledged`);
      assert.equal(b.broker.stats.droppedQueued, 0, "nothing dropped at the subscriber's node");
      // A message for nobody elsewhere is not held by that backlog.
      other.send({ cmd: "publish", topic: "local/x", payload: "x", qos: 1, messageId: 7 });
      assert.equal((await other.next("puback", 20_000)).messageId, 7);

      // The subscriber reads again: every message arrives, once, and the publisher finishes.
      const got = new Set<number>();
      let copies = 0;
      const take = (p: Packet) => {
        if (p.cmd !== "publish") return;
        copies++;
        got.add(Number(String(p.payload)));
        sub.send({ cmd: "puback", messageId: p.messageId });
      };
      for (const p of sub.packets.splice(0)) take(p);
      while (got.size < total) take(await sub.next(undefined, 30_000));
      await publisher.done;
      assert.equal(publisher.acked, total);
      assert.equal(got.size, total);
      assert.equal(copies, total, "each message once");
      assert.equal(b.broker.stats.droppedQueued, 0);
    } finally {
      publisher?.stop();
      for (const raw of [sub, pubRaw, other]) raw.destroy();
      probeA.end(true);
      probeB.end(true);
      await a.broker.close();
      await b.broker.close();
    }
  });
});
