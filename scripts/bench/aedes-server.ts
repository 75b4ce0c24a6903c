/**
 * Aedes 1.x on a plain node:net server, the way its README runs it, for the benchmark:
 * `node --import tsx scripts/bench/aedes-server.ts --port PORT`. Logs one line on stderr when listening.
 *
 * @module
 */
import { createServer } from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { Aedes } from "aedes";

const { values } = parseArgs({ options: { port: { type: "string" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error("usage: aedes-server.ts --port PORT");
  process.exit(2);
}

// Aedes' defaults are kept: the benchmark measures the broker as people deploy it.
const broker = await Aedes.createBroker();
// Nagle's algorithm would add delay to the latency scenario that no broker under test has.
const server = createServer({ noDelay: true }, (socket) => broker.handle(socket));
server.listen(port, "127.0.0.1", () => console.error(`aedes listening on 127.0.0.1:${port}`));

process.on("SIGTERM", () => {
  server.close();
  broker.close(() => process.exit(0));
});
