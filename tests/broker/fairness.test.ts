import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import mqttPacket from "mqtt-packet";
import { eventually, withBroker } from "../helpers/broker.ts";
import { connectPacket, publishPacket, subscribePacket } from "../helpers/hostile.ts";

const utf8 = new TextEncoder();
const BURST = 2000;

/** A raw 3.1.1 connection that acknowledges every QoS 1 PUBLISH as soon as it is read. */
function ackingSubscriber(port: number, filter: string): Promise<{ received: () => number }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = net.connect(port, "127.0.0.1");
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on("packet", (packet) => {
      if (packet.cmd === "suback") resolve({ received: () => received });
      if (packet.cmd !== "publish") return;
      received++;
      socket.write(mqttPacket.generate({ cmd: "puback", messageId: packet.messageId }));
    });
    socket.on("data", (chunk) => parser.parse(chunk));
    socket.on("error", reject);
    socket.write(connectPacket("fair-sub"));
    socket.write(subscribePacket([[utf8.encode(filter), 1]]));
    closers.push(() => socket.destroy());
  });
}

const closers: (() => void)[] = [];

test("a subscriber's window refills between the packets of a publisher's burst", () =>
  withBroker(
    { "max-inflight-messages": 20, "max-queued-messages": 100 },
    async ({ port, broker }) => {
      try {
        const sub = await ackingSubscriber(port, "fair/#");
        const burst = Buffer.concat(
          Array.from(
            { length: BURST },
            (_, i) => publishPacket(utf8.encode("fair/t"), utf8.encode("x"), 1, i + 1),
          ),
        );
        const pub = net.connect(port, "127.0.0.1");
        closers.push(() => pub.destroy());
        pub.on("data", () => {});
        pub.on("error", () => {});
        // One write: without a bound on what one connection gets per turn, the whole burst is
        // handled before the subscriber's first PUBACK is read, and all but 120 (20 in flight,
        // 100 queued) are dropped. With it, the PUBACKs are read between slices of the burst.
        pub.write(Buffer.concat([connectPacket("fair-pub"), burst]));
        await eventually(
          () => sub.received() + broker.stats.droppedQueued >= BURST,
          20_000,
          "every message delivered or dropped",
        );
        assert.ok(
          sub.received() > BURST / 2,
          `${sub.received()} of ${BURST} delivered, ${broker.stats.droppedQueued} dropped`,
        );
      } finally {
        for (const close of closers.splice(0)) close();
      }
    },
  ));
