/**
 * The bridges' figures as Prometheus metric families, one sample per bridge (label `bridge`, the
 * name under `bridges:` in the configuration), and as the items of `GET /api/bridges`.
 *
 * @module
 */
import type { BridgeFigures } from "../bridge/bridge.ts";
import type { MetricFamily } from "./exposition.ts";

/** The running bridges' figures by name. */
export type BridgeFiguresByName = ReadonlyMap<string, Readonly<BridgeFigures>>;

/** The bridges' metric families; none without bridges. */
export function bridgeMetrics(bridges: BridgeFiguresByName): MetricFamily[] {
  if (bridges.size === 0) return [];
  const each = (
    name: string,
    type: MetricFamily["type"],
    help: string,
    value: (f: Readonly<BridgeFigures>) => number,
  ): MetricFamily => ({
    name,
    type,
    help,
    samples: [...bridges].map(([bridge, f]) => [{ bridge }, value(f)]),
  });
  return [
    each(
      "mqtt_bridge_up",
      "gauge",
      "Whether the bridge is connected to its remote (1) or not (0).",
      (f) => f.up ? 1 : 0,
    ),
    {
      name: "mqtt_bridge_messages_forwarded_total",
      type: "counter",
      help: "Messages forwarded: out (acknowledged by the remote) and in (routed locally).",
      samples: [...bridges].flatMap(([bridge, f]) => [
        [{ bridge, direction: "out" }, f.forwardedOut] as const,
        [{ bridge, direction: "in" }, f.forwardedIn] as const,
      ]),
    },
    each(
      "mqtt_bridge_messages_queued",
      "gauge",
      "Messages waiting for the remote, behind those in flight.",
      (f) => f.queued,
    ),
    each(
      "mqtt_bridge_messages_dropped_total",
      "counter",
      "Messages for the remote dropped: max-queued-messages reached, refused by the remote, or too large for it.",
      (f) => f.dropped,
    ),
    each(
      "mqtt_bridge_reconnects_total",
      "counter",
      "Connections to the remote after the first.",
      (f) => f.reconnects,
    ),
  ];
}

/** `GET /api/bridges`: one item per bridge. */
export function bridgeItems(bridges: BridgeFiguresByName) {
  return [...bridges].map(([name, f]) => ({
    name,
    state: f.up ? "connected" : "disconnected",
    forwardedOut: f.forwardedOut,
    forwardedIn: f.forwardedIn,
    queued: f.queued,
    dropped: f.dropped,
    reconnects: f.reconnects,
  }));
}
