/**
 * The part of aedes-persistence-redis (which ships no types) that the benchmark's Aedes cluster
 * server uses.
 *
 * @module
 */
declare module "aedes-persistence-redis" {
  /** Redis connection options, as ioredis takes them. */
  export interface Options {
    host?: string;
    port?: number;
  }
  /** An Aedes persistence over Redis; Aedes takes it as `persistence`. */
  export default function aedesPersistenceRedis(options?: Options): unknown;
}
