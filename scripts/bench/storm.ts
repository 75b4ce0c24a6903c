/**
 * The storm scenario's crowd: a process of its own, so that opening a thousand sockets at once
 * does not stall the load generator's event loop, which times the pair being measured. Started by
 * loadgen.ts as `node --import tsx scripts/bench/storm.ts PORT AUTH` (AUTH `1` logs every client
 * in with the bench credentials); each line `go ROUND` on stdin makes {@link STORM_CLIENTS}
 * clients CONNECT at once, and when every one has its CONNACK (or lost its connection) one line
 * of JSON, a {@link StormRound}, goes to stdout. The line `end` makes them DISCONNECT, and `ended`
 * goes to stdout once every one has closed: the load generator stops timing the pair before
 * that, so what it times is the storm of CONNECTs, not the burst of DISCONNECTs after it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { createInterface } from "node:readline";
import { CONNACK, type Credentials, DISCONNECT, encodeConnect } from "./mqtt.ts";
import { benchCredentials, STORM_CLIENTS, type StormRound } from "./shared.ts";

/** Opens one client and settles with its CONNACK return code, or -1 when it got none. */
function client(
  port: number,
  id: string,
  credentials: Credentials | undefined,
  open: Socket[],
): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, noDelay: true });
    open.push(socket);
    let seen = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      // A 3.1.1 CONNACK is 4 bytes: type, length 2, flags, return code.
      if (seen.length >= 4 && seen[0] >> 4 === CONNACK) resolve(seen[3]);
    });
    socket.on("error", () => resolve(-1));
    socket.on("close", () => resolve(-1));
    socket.write(encodeConnect(id, 60, 4, { credentials }));
  });
}

/** The clients of the last round, until `end`. */
let open: Socket[] = [];

async function round(port: number, auth: boolean, name: string): Promise<StormRound> {
  const began = performance.now();
  const codes = await Promise.all(
    Array.from(
      { length: STORM_CLIENTS },
      (_, i) =>
        client(port, `bench-storm-${name}-${i}`, auth ? benchCredentials(i) : undefined, open),
    ),
  );
  const ms = performance.now() - began;
  return {
    accepted: codes.filter((code) => code === 0).length,
    refused: codes.filter((code) => code > 0).length,
    lost: codes.filter((code) => code < 0).length,
    ms,
  };
}

const port = Number(process.argv[2]);
const auth = process.argv[3] === "1";
for await (const line of createInterface({ input: process.stdin })) {
  const [command, name] = line.split(" ");
  if (command === "go") {
    process.stdout.write(`${JSON.stringify(await round(port, auth, name ?? "0"))}\n`);
  } else if (command === "end") {
    const closing = open.map((socket) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.once("close", () => resolve());
        socket.end(DISCONNECT);
      })
    );
    open = [];
    await Promise.all(closing);
    process.stdout.write("ended\n");
  }
}
