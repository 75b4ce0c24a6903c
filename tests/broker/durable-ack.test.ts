import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../../src/broker/client.ts";
import type { BrokerContext } from "../../src/broker/context.ts";
import { Deadlines } from "../../src/broker/deadlines.ts";
import { newStats } from "../../src/broker/stats.ts";
import { DEFAULT_LIMITS } from "../../src/config/defaults.ts";
import type { ByteChannel, Connection } from "../../src/runtime/types.ts";
import { sleep } from "../helpers/broker.ts";

/** A client on a fake connection whose broker has records waiting while `pending` says so. */
function setup() {
  const written: number[] = [];
  const waiting: (() => void)[] = [];
  const state = { pending: true };
  const broker = {
    config: { limits: DEFAULT_LIMITS },
    stats: newStats(),
    deadlines: new Deadlines(500),
    holdOutput(flush: () => void) {
      if (!state.pending) return false;
      waiting.push(flush);
      return true;
    },
  } as unknown as BrokerContext;
  const conn = {
    open: (): ByteChannel => ({
      write: (chunk) => (written.push(...chunk), true),
      pause() {},
      resume() {},
    }),
  } as unknown as Connection;
  return { client: new Client(broker, conn, "test"), written, waiting, state };
}

const PUBACK = new Uint8Array([0x40, 2, 0, 1]);
const PUBLISH = new Uint8Array([0x30, 3, 0, 1, 0x61]);

/** The bytes of these packets, in this order. */
const bytes = (...packets: Uint8Array[]) => packets.flatMap((p) => [...p]);

test("an acknowledgement and what follows it wait for the commit; a PUBLISH alone does not", async () => {
  const { client, written, waiting, state } = setup();
  client.send(PUBLISH);
  await sleep(10);
  assert.deepEqual(written, bytes(PUBLISH), "a PUBLISH promises nothing: it goes at once");
  client.send(PUBACK);
  client.send(PUBLISH);
  await sleep(10);
  assert.deepEqual(written, bytes(PUBLISH), "held until the commit");
  assert.equal(waiting.length, 1);
  state.pending = false;
  waiting[0]();
  await sleep(10);
  assert.deepEqual(written, bytes(PUBLISH, PUBACK, PUBLISH), "in the order sent");
  client.send(PUBACK);
  await sleep(10);
  assert.deepEqual(
    written,
    bytes(PUBLISH, PUBACK, PUBLISH, PUBACK),
    "nothing waits for a commit: it goes at once",
  );
});
