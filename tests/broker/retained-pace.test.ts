import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Client } from "../../src/broker/client.ts";
import { RoutedMessage } from "../../src/broker/message.ts";
import { memoryStore } from "../../src/store/memory/memory.ts";
import { RetainedStore } from "../../src/broker/retained.ts";
import { Session, type SessionContext } from "../../src/broker/session.ts";
import { newStats } from "../../src/broker/stats.ts";
import { DEFAULT_LIMITS } from "../../src/config/defaults.ts";
import { decodePacket } from "../../src/protocol/decode.ts";
import type { PublishPacket } from "../../src/protocol/packets.ts";
import { collect, eventually, memoryLogger, sleep, withBroker } from "../helpers/broker.ts";

/** A connection that takes `budget` more packets, then reports itself full until given more. */
class FakeClient {
  readonly codec = { version: 4 };
  budget = Infinity;
  readonly sent: PublishPacket[] = [];
  canSend(): boolean {
    return this.budget > 0;
  }
  send(bytes: Uint8Array): void {
    this.budget--;
    this.sent.push(decodePacket(bytes) as PublishPacket);
  }
  get payloads(): string[] {
    return this.sent.map((p) => `${p.topic}=${new TextDecoder().decode(p.payload)}`);
  }
}

const retained = (topic: string, payload: string, qos: 0 | 1 = 0) =>
  new RoutedMessage(topic, new TextEncoder().encode(payload), qos, true);

function setup(
  count: number,
  mayReceive: SessionContext["mayReceive"] = () => true,
  inflight = DEFAULT_LIMITS.maxInflightMessages,
) {
  const store = new RetainedStore();
  for (let i = 0; i < count; i++) store.set(retained(`t/${i}`, "v", 1));
  const context: SessionContext = {
    limits: { ...DEFAULT_LIMITS, maxInflightMessages: inflight },
    stats: newStats(),
    logger: memoryLogger(),
    mayReceive,
    store: memoryStore(),
    storeMessage: () => 0,
  };
  const session = new Session("s", 0, context);
  const client = new FakeClient();
  session.client = client as unknown as Client;
  return { store, session, client };
}

describe("retained messages follow the subscriber's pace (unit)", () => {
  test("QoS 0: only what the output takes now, the rest as room frees", () => {
    const { store, session, client } = setup(10);
    client.budget = 3;
    session.sendRetained("t/#", 0, store.matching("t/#"));
    assert.equal(client.sent.length, 3);
    client.budget = 4;
    session.pump();
    assert.equal(client.sent.length, 7);
    client.budget = Infinity;
    session.pump();
    assert.deepEqual(
      client.sent.map((p) => p.topic),
      Array.from({ length: 10 }, (_, i) => `t/${i}`),
    );
    assert.ok(client.sent.every((p) => p.retain && p.qos === 0));
  });

  test("QoS 1: within the in-flight window, the next after each acknowledgement", () => {
    const { store, session, client } = setup(5, undefined, 2);
    session.sendRetained("t/#", 1, store.matching("t/#"));
    assert.equal(client.sent.length, 2);
    session.complete(client.sent[0].packetId, 1);
    assert.equal(client.sent.length, 3);
    assert.equal(session.queue.length, 0, "retained messages do not take the queue");
  });

  test("a message replaced while waiting goes out as the new one; a deleted one not at all", () => {
    const { store, session, client } = setup(4);
    client.budget = 1;
    session.sendRetained("t/#", 0, store.matching("t/#"));
    store.set(retained("t/1", "new"));
    store.set(retained("t/2", ""));
    client.budget = Infinity;
    session.pump();
    assert.deepEqual(client.payloads, ["t/0=v", "t/1=new", "t/3=v"]);
  });

  test("subscribing again to a filter restarts its retained messages; unsubscribing stops them", () => {
    const { store, session, client } = setup(5);
    client.budget = 2;
    session.sendRetained("t/#", 0, store.matching("t/#"));
    session.sendRetained("t/#", 0, store.matching("t/#"));
    client.budget = Infinity;
    session.pump();
    assert.equal(client.sent.length, 2 + 5, "the first cursor was replaced");
    client.budget = 1;
    session.sendRetained("t/#", 0, store.matching("t/#"));
    session.cancelRetained("t/#");
    client.budget = Infinity;
    session.pump();
    assert.equal(client.sent.length, 2 + 5 + 1);
    client.budget = 1;
    session.sendRetained("t/+", 0, store.matching("t/+"));
    session.clear();
    client.budget = Infinity;
    session.pump();
    assert.equal(client.sent.length, 2 + 5 + 1 + 1, "an ended session sends nothing more");
  });

  test("an asynchronous receive check holds the rest back, in order; a refusal skips one", async () => {
    const { store, session, client } = setup(
      4,
      (_, message) => Promise.resolve(message.topic !== "t/1"),
    );
    session.sendRetained("t/#", 0, store.matching("t/#"));
    assert.equal(client.sent.length, 0);
    await eventually(() => client.sent.length === 3, 5000, "the allowed messages");
    await sleep(20);
    assert.deepEqual(client.sent.map((p) => p.topic), ["t/0", "t/2", "t/3"]);
  });
});

describe("retained messages follow the subscriber's pace", () => {
  test("2,000 retained 1 KiB messages reach a QoS 0 and a QoS 1 subscriber of t/# whole", () =>
    withBroker({}, async ({ broker, client }) => {
      const payload = Buffer.alloc(1024, 0x61);
      for (let i = 0; i < 2000; i++) {
        broker.publish({ topic: `t/${i}`, payload, qos: 1, retain: true });
      }
      const q0 = await client();
      const q1 = await client();
      const got0 = collect(q0);
      const got1 = collect(q1);
      await Promise.all([
        q0.subscribeAsync("t/#", { qos: 0 }),
        q1.subscribeAsync("t/#", { qos: 1 }),
      ]);
      await eventually(() => got0.length >= 2000 && got1.length >= 2000, 30000, "every message");
      await q1.publishAsync("sync", "", { qos: 1 });
      for (const [got, qos] of [[got0, 0], [got1, 1]] as const) {
        assert.equal(got.length, 2000);
        assert.equal(new Set(got.map((m) => m.topic)).size, 2000);
        assert.ok(got.every((m) => m.retain && m.qos === qos && m.payload.length === 1024));
      }
      assert.equal(broker.stats.droppedQos0 + broker.stats.droppedQueued, 0);
    }));

  test("UNSUBSCRIBE stops the retained messages still to come", () =>
    withBroker({ "max-inflight-messages": 2 }, async ({ broker, raw }) => {
      for (let i = 0; i < 10; i++) {
        broker.publish({ topic: `t/${i}`, payload: "v", qos: 1, retain: true });
      }
      const c = await raw();
      await c.handshake();
      c.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "t/#", qos: 1 }] });
      await c.next("suback");
      const first = [await c.next("publish"), await c.next("publish")];
      c.send({ cmd: "unsubscribe", messageId: 2, unsubscriptions: ["t/#"] });
      await c.next("unsuback");
      for (const p of first) c.send({ cmd: "puback", messageId: p.messageId });
      c.send({ cmd: "pingreq" });
      await c.next("pingresp");
    }));
});
