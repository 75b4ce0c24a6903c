import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { collect, eventually, sleep, withBroker } from "../helpers/broker.ts";
import { connectPacket, publishPacket } from "../helpers/hostile.ts";

/** Bytes the flooding client tries to send: far more than any socket buffer on the way holds. */
const FLOOD_BYTES = 24 * 1024 * 1024;

/** A chunk of QoS 1 PUBLISH packets to topic "f" with empty payloads, packet ids 1.. */
function publishChunk(count: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) parts.push(publishPacket([0x66], [], 1, 1 + (i % 65535)));
  return Buffer.concat(parts);
}

/**
 * Connects, then writes `chunk` over and over without ever reading, until `total` bytes are
 * written or the socket takes nothing for `stallMs`. Resolves with the bytes written and whether
 * it stalled.
 */
function flood(
  port: number,
  chunk: Buffer,
  total: number,
  stallMs: number,
): Promise<{ socket: net.Socket; written: number; stalled: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    let written = 0;
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!socket.write(chunk)) {
          const timer = setTimeout(() => {
            socket.off("drain", onDrain);
            resolve({ socket, written, stalled: true });
          }, stallMs);
          const onDrain = () => {
            clearTimeout(timer);
            pump();
          };
          socket.once("drain", onDrain);
          return;
        }
      }
      resolve({ socket, written, stalled: false });
    };
    socket.once("connect", () => {
      socket.pause();
      socket.write(connectPacket("flooder"));
      pump();
    });
    socket.once("close", () => reject(new Error("the broker closed the flooding connection")));
  });
}

describe("floods", () => {
  test("a publisher that never reads its PUBACKs is slowed by backpressure, not buffered", () =>
    withBroker({ "max-output-bytes": 65536 }, async ({ port, broker, client }) => {
      const sub = await client();
      const got = collect(sub);
      await sub.subscribeAsync("health", { qos: 1 });
      const pub = await client();
      const { socket, written, stalled } = await flood(port, publishChunk(8192), FLOOD_BYTES, 1000);
      try {
        assert.ok(stalled, `the broker read all ${written} bytes: no backpressure`);
        await sleep(300);
        // Reads resume in bursts as the kernel's buffers take acknowledgements (how much depends
        // on the runtime and the kernel), but the flood as a whole stays unread.
        assert.ok(
          broker.stats.bytesReceived < FLOOD_BYTES / 2,
          `the broker read ${broker.stats.bytesReceived} of ${FLOOD_BYTES} bytes`,
        );
        await pub.publishAsync("health", "still routed", { qos: 1 });
        await eventually(() => got.length === 1, 5000, "the healthy round trip");
      } finally {
        socket.destroy();
      }
    }));

  test("the flooding publisher is read again once it takes its acknowledgements", () =>
    withBroker({ "max-output-bytes": 65536 }, async ({ port, broker }) => {
      const { socket, stalled } = await flood(port, publishChunk(8192), FLOOD_BYTES, 1000);
      try {
        assert.ok(stalled);
        const before = broker.stats.publishReceived;
        socket.resume();
        socket.on("data", () => {});
        await eventually(
          () => broker.stats.publishReceived > before + 100_000,
          10_000,
          "the broker to read the flood again",
        );
      } finally {
        socket.destroy();
      }
    }));

  test("QoS 0 floods to a fast subscriber: the publisher's socket is the only buffer", () =>
    withBroker({ "max-output-bytes": 65536 }, async ({ client, broker }) => {
      const sub = await client();
      let count = 0;
      sub.on("message", () => void count++);
      await sub.subscribeAsync("q0");
      const pub = await client();
      const payload = Buffer.alloc(1024);
      for (let i = 0; i < 5000; i++) pub.publish("q0", payload, { qos: 0 });
      await pub.publishAsync("q0", "last", { qos: 1 });
      await eventually(
        () => count + broker.stats.droppedQos0 >= 5001,
        10_000,
        "every message or its drop",
      );
      assert.equal(broker.clients.length, 2);
    }));
});
