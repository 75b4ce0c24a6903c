/**
 * Starting the configured bridges with the broker, their figures in `$SYS`, and stopping them.
 *
 * @module
 */
import type { ResolvedBridge } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { BRIDGE_SESSION_PREFIX, type BridgeSeam, type HeldBridge } from "../broker/bridge_seam.ts";
import { RoutedMessage } from "../broker/message.ts";
import { Bridge, type BridgeFigures } from "./bridge.ts";

/** The running bridges. */
export interface Bridges {
  /** Figures by bridge name. */
  figures(): Map<string, Readonly<BridgeFigures>>;
  /** Stops every bridge and the `$SYS` timer. */
  stop(): Promise<void>;
}

/** The `$SYS/broker/bridges/<name>/` values of one bridge. */
function sysValues(f: BridgeFigures): Record<string, number> {
  return {
    state: f.up ? 1 : 0,
    "forwarded/out": f.forwardedOut,
    "forwarded/in": f.forwardedIn,
    queued: f.queued,
    dropped: f.dropped,
    reconnects: f.reconnects,
  };
}

/**
 * Connects every bridge; their figures go to `$SYS` every `sysIntervalMs` (0: never). `held` is
 * what the store gave back at start, by client id: each bridge takes its queue out of it, and
 * what is left belongs to bridges no longer configured.
 */
export function startBridges(
  configs: readonly ResolvedBridge[],
  broker: BridgeSeam,
  logger: Logger,
  sysIntervalMs: number,
  held?: Map<string, HeldBridge>,
): Bridges {
  const bridges = configs.map((c) => {
    const clientId = BRIDGE_SESSION_PREFIX + c.name;
    const queue = held?.get(clientId);
    held?.delete(clientId);
    return new Bridge(c, broker, logger, queue);
  });
  const encoder = new TextEncoder();
  const publishSys = () => {
    for (const bridge of bridges) {
      for (const [suffix, value] of Object.entries(sysValues(bridge.figures))) {
        const topic = `$SYS/broker/bridges/${bridge.config.name}/${suffix}`;
        broker.route(new RoutedMessage(topic, encoder.encode(String(value)), 0, true), undefined);
      }
    }
  };
  const timer = bridges.length > 0 && sysIntervalMs > 0
    ? setInterval(publishSys, sysIntervalMs)
    : undefined;
  return {
    figures: () => new Map(bridges.map((b) => [b.config.name, b.figures])),
    async stop() {
      clearInterval(timer);
      await Promise.all(bridges.map((b) => b.stop()));
    },
  };
}
