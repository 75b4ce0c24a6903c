import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { eventually, withBroker } from "../helpers/broker.ts";
import { connectPacket } from "../helpers/hostile.ts";
import { performance } from "node:perf_hooks";
import { connectNow, inTurn } from "../../src/broker/admission.ts";

/** More CONNECTs than one turn's slice for them handles, on any machine this runs on. */
const STORM = 300;
const PINGREQ = Buffer.from([0xc0, 0]);
/** CONNACK's first byte. */
const CONNACK = 0x20;

/** A raw socket, connected; counts the CONNACKs it got and whether the broker closed it. */
async function crowdMember(
  port: number,
  sockets: net.Socket[],
): Promise<{ socket: net.Socket; acked: () => boolean; closed: () => boolean }> {
  const socket = net.connect(port, "127.0.0.1");
  sockets.push(socket);
  let acked = false;
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    if (chunk[0] === CONNACK) acked = true;
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, acked: () => acked, closed: () => closed };
}

test("a connected client is answered between the CONNECTs of a storm, which all get CONNACK in order", () =>
  withBroker({}, async ({ port, raw }) => {
    const sockets: net.Socket[] = [];
    try {
      const pinger = await raw();
      await pinger.handshake({ clientId: "connected" });
      const crowd = await Promise.all(
        Array.from({ length: STORM }, () => crowdMember(port, sockets)),
      );
      // The first and the last of the storm share a client id: the last CONNECT must win, as
      // it would if no CONNECT waited.
      const id = (i: number) => i === 0 || i === STORM - 1 ? "storm-twin" : `storm-${i}`;
      crowd.forEach((member, i) => member.socket.write(connectPacket(id(i))));
      pinger.send(PINGREQ);
      await pinger.next("pingresp");
      const ackedBefore = crowd.filter((member) => member.acked()).length;
      await eventually(
        () => crowd.every((member) => member.acked()),
        20_000,
        "a CONNACK for every CONNECT of the storm",
      );
      // Without the slices, the PINGREQ sent last would be answered after every CONNECT.
      assert.ok(ackedBefore < STORM, `${ackedBefore} of ${STORM} CONNACKs came before PINGRESP`);
      await eventually(() => crowd[0].closed(), 5000, "the first twin taken over");
      assert.equal(crowd[STORM - 1].closed(), false, "the last twin is connected");
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }));

test("the rest of a CONNECT whose check was pending waits for a slice when this one is spent", async () => {
  // A slice begins with this first CONNECT; spinning past its millisecond spends it.
  assert.equal(connectNow(() => {}), true);
  const spent = performance.now() + 2;
  while (performance.now() < spent) { /* spend the slice */ }
  let ran = false;
  const rest = inTurn(() => {
    ran = true;
    return "admitted";
  });
  assert.equal(ran, false, "it waits for a later turn");
  assert.equal(await rest, "admitted");
  await assert.rejects(
    inTurn(() => {
      throw new Error("refused");
    }),
    /refused/,
  );
});
