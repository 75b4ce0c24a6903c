import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBroker } from "../../src/broker/create.ts";
import type { Message } from "../../src/plugins/types.ts";
import { connect, eventually, memoryLogger, withBroker, within } from "../helpers/broker.ts";

const text = (m: Message) => new TextDecoder().decode(m.payload);
const summary = (m: Message) => `${m.topic}=${text(m)} q${m.qos}${m.retain ? " r" : ""}`;

describe("Broker.subscribe (embedder)", () => {
  test("gets what a QoS 2 subscriber gets: retained at once, then live, from clients and publish()", () =>
    withBroker({}, async ({ broker, client }) => {
      broker.publish({ topic: "e/kept", payload: "old", qos: 1, retain: true });
      const got: Message[] = [];
      const stop = broker.subscribe("e/#", (m) => void got.push(m));
      assert.deepEqual(got.map(summary), ["e/kept=old q1 r"], "retained before subscribe returns");
      const c = await client();
      await c.publishAsync("e/a", "one", { qos: 2 });
      await c.publishAsync("e/b", "two", { qos: 0, retain: true });
      await c.publishAsync("other", "no", { qos: 1 });
      broker.publish({ topic: "e/c", payload: "three", qos: 1 });
      await eventually(() => got.length === 4, 5000, "the live messages");
      assert.deepEqual(got.map(summary), [
        "e/kept=old q1 r",
        "e/a=one q2",
        "e/b=two q0",
        "e/c=three q1",
      ]);
      stop();
      stop();
      broker.publish({ topic: "e/d", payload: "late" });
      assert.equal(got.length, 4, "nothing after unsubscribing");
    }));

  test("is a Disposable and survives a throwing handler", () =>
    withBroker({}, ({ broker, logger }) => {
      const got: string[] = [];
      {
        using _sub = broker.subscribe("d/+", (m) => {
          got.push(m.topic);
          throw new Error("boom");
        });
        broker.publish({ topic: "d/1" });
      }
      broker.publish({ topic: "d/2" });
      assert.deepEqual(got, ["d/1"]);
      assert.ok(logger.lines.some((l) => /subscribe handler for d\/\+ failed: boom/.test(l)));
      return Promise.resolve();
    }));

  test("a malformed filter or a missing handler is a TypeError", () =>
    withBroker({}, ({ broker }) => {
      assert.throws(() => broker.subscribe("a/#/b", () => {}), TypeError);
      assert.throws(() => broker.subscribe("", () => {}), TypeError);
      assert.throws(
        () => broker.subscribe(3 as unknown as string, () => {}),
        /filter must be a string, not number/,
      );
      assert.throws(
        () => broker.subscribe("a", undefined as unknown as () => void),
        /handler must be a function/,
      );
      return Promise.resolve();
    }));
});

describe("createBroker({ signal })", () => {
  const config = { listeners: { default: { bind: "127.0.0.1:0" } } };

  test("aborting stops the broker as close() does", async () => {
    const controller = new AbortController();
    const broker = await createBroker(config, {
      logger: memoryLogger(),
      signal: controller.signal,
    });
    const c = await connect(`mqtt://127.0.0.1:${broker.listeners[0].port}`);
    const closed = new Promise<void>((resolve) => c.on("close", () => resolve()));
    controller.abort();
    await within(closed, 5000, "the client to be disconnected");
    c.end(true);
    await broker.close();
    assert.equal(broker.listeners.length, 0, "unbound");
  });

  test("an already aborted signal closes the broker at once, after it started", async () => {
    const seen: string[] = [];
    const broker = await createBroker({
      ...config,
      plugins: [{
        name: "watch",
        on: {
          broker_post_start: () => void seen.push("started"),
          broker_post_shutdown: () => void seen.push("stopped"),
        },
      }],
    }, { logger: memoryLogger(), signal: AbortSignal.abort() });
    await broker.close();
    assert.deepEqual(seen, ["started", "stopped"]);
    assert.equal(broker.listeners.length, 0);
  });

  test("the listener on the signal is removed once the broker is closed", async () => {
    const controller = new AbortController();
    const signal = controller.signal;
    let added = 0;
    let removed = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    };
    signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    };
    const broker = await createBroker(config, { logger: memoryLogger(), signal });
    assert.equal(added, 1);
    await broker.close();
    assert.equal(removed, 1);
  });
});
