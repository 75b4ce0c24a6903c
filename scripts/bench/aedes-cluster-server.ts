/**
 * One node of an Aedes cluster for the benchmark, the way Aedes' documentation clusters it:
 * mqemitter-redis carries messages between nodes, aedes-persistence-redis keeps subscriptions,
 * retained messages and QoS 1/2 state in Redis.
 * `node --import tsx scripts/bench/aedes-cluster-server.ts --port PORT --redis-port REDIS_PORT`.
 * Logs one line on stderr when listening.
 *
 * @module
 */
import { createServer } from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { Aedes } from "aedes";
import mqemitterRedis from "mqemitter-redis";
import aedesPersistenceRedis from "aedes-persistence-redis";

const { values } = parseArgs({
  options: { port: { type: "string" }, "redis-port": { type: "string" } },
});
const port = Number(values.port);
const redisPort = Number(values["redis-port"]);
const valid = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= 65535;
if (!valid(port) || !valid(redisPort)) {
  console.error("usage: aedes-cluster-server.ts --port PORT --redis-port REDIS_PORT");
  process.exit(2);
}

const redis = { host: "127.0.0.1", port: redisPort };
// Otherwise Aedes' defaults, as in aedes-server.ts.
const broker = await Aedes.createBroker({
  mq: mqemitterRedis(redis),
  persistence: aedesPersistenceRedis(redis),
});
// Nagle's algorithm would add delay that no broker under test has.
const server = createServer({ noDelay: true }, (socket) => broker.handle(socket));
server.listen(port, "127.0.0.1", () => console.error(`aedes listening on 127.0.0.1:${port}`));

process.on("SIGTERM", () => {
  server.close();
  broker.close(() => process.exit(0));
});
