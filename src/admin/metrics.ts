/**
 * The broker's figures as Prometheus metric families for `GET /metrics`: read from the counters
 * and gauges the broker keeps anyway, so a scrape costs one pass over the sessions (for in-flight
 * and queued) and the clients (for protocol versions), and no label ever names a client.
 *
 * @module
 */
import process from "node:process";
import type { BoundListener, Gauges } from "../broker/core.ts";
import type { ByVersionQos, Stats } from "../broker/stats.ts";
import { VERSION } from "../version.ts";
import type { Labels, MetricFamily } from "./exposition.ts";
import type { StoreHealth } from "../store/types.ts";
import type { ClusterHealth } from "../cluster/cluster.ts";

/** What the metrics read. */
export interface MetricsSource {
  readonly stats: Readonly<Stats>;
  readonly gauges: Gauges;
  readonly listeners: readonly BoundListener[];
  /** Open connections per MQTT listener name. */
  readonly connectionsByListener: ReadonlyMap<string, number>;
  /** Worst recent event-loop delay, in seconds. */
  readonly eventLoopLagSeconds: number;
  /** Failed logins to the HTTP listener. */
  readonly adminLoginFailures: number;
  /** Milliseconds since the epoch when the broker started. */
  readonly startedAt: number;
  /** The persistence store's figures; undefined without one. */
  readonly store?: StoreHealth;
  /** This node's cluster figures; undefined outside a cluster. */
  readonly cluster?: ClusterHealth;
}

/** Protocol labels by protocol level. */
const PROTOCOLS = { 3: "3.1", 4: "3.1.1", 5: "5.0" } as const;

/** The protocol levels, in label order. */
const VERSIONS = [3, 4, 5] as const;

/** CONNACK refusals that are failed authentications. */
const AUTH_FAILURES = [
  "bad_user_name_or_password",
  "not_authorized",
  "bad_authentication_method",
  "banned",
];

function counter(name: string, help: string, value: number): MetricFamily {
  return { name, type: "counter", help, samples: [[undefined, value]] };
}

function gauge(name: string, help: string, value: number): MetricFamily {
  return { name, type: "gauge", help, samples: [[undefined, value]] };
}

function labelled(
  name: string,
  type: MetricFamily["type"],
  help: string,
  samples: [Labels, number][],
): MetricFamily {
  return { name, type, help, samples };
}

/** A counter family with one sample per protocol version and QoS. */
function byQos(name: string, help: string, counts: ByVersionQos): MetricFamily {
  const samples: [Labels, number][] = [];
  for (const version of VERSIONS) {
    const protocol = PROTOCOLS[version];
    counts[version].forEach((n, qos) => samples.push([{ protocol, qos: String(qos) }, n]));
  }
  return labelled(name, "counter", help, samples);
}

/** Every metric family, read now. */
export function brokerMetrics(source: MetricsSource): MetricFamily[] {
  const s = source.stats;
  const g = source.gauges;
  const admitted = { 3: s.connectionsMqtt31, 4: s.connectionsMqtt311, 5: s.connectionsMqtt5 };
  const refused: [Labels, number][] = [[{ reason: "max_connections" }, s.connectionsRefused]];
  for (const [reason, n] of Object.entries(s.connectsRefused)) refused.push([{ reason }, n]);
  const authFailures = AUTH_FAILURES.reduce((n, r) => n + (s.connectsRefused[r] ?? 0), 0);
  const mqttListeners = source.listeners.filter((l) => l.type !== "http");
  const memory = process.memoryUsage();
  return [
    labelled("mqtt_build_info", "gauge", "The broker's version; always 1.", [[
      { version: VERSION },
      1,
    ]]),
    gauge(
      "process_start_time_seconds",
      "Start time of the broker since the Unix epoch in seconds.",
      source.startedAt / 1000,
    ),
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
    gauge(
      "mqtt_heap_used_bytes",
      "Bytes of the JavaScript heap in use (V8 in Deno and Node, JavaScriptCore in Bun).",
      memory.heapUsed,
    ),
    gauge(
      "mqtt_event_loop_lag_seconds",
      "Worst delay of the event loop over the last ten seconds.",
      source.eventLoopLagSeconds,
    ),
    labelled(
      "mqtt_listener_connections",
      "gauge",
      "Connections open now, by MQTT listener (CONNECT not required).",
      mqttListeners.map((l) => [
        { listener: l.name },
        source.connectionsByListener.get(l.name) ?? 0,
      ]),
    ),
    labelled(
      "mqtt_clients_connected",
      "gauge",
      "Clients connected now, by protocol version.",
      VERSIONS.map((v) => [{ protocol: PROTOCOLS[v] }, g.clientsByVersion[v]]),
    ),
    gauge("mqtt_clients_maximum", "Most clients connected at once.", s.clientsMaximum),
    labelled(
      "mqtt_connections_total",
      "counter",
      "Connections admitted (authenticated, CONNACK success), by protocol version.",
      VERSIONS.map((v) => [{ protocol: PROTOCOLS[v] }, admitted[v]]),
    ),
    labelled(
      "mqtt_connections_refused_total",
      "counter",
      "Connections refused: max_connections at the listener, else by CONNACK reason code.",
      refused,
    ),
    counter(
      "mqtt_auth_successes_total",
      "CONNECTs the authentication plugins accepted, anonymous ones included.",
      s.authSucceeded,
    ),
    counter(
      "mqtt_auth_failures_total",
      "CONNECTs refused for their credentials: bad user name or password, not authorized, bad authentication method, banned.",
      authFailures,
    ),
    labelled("mqtt_sessions", "gauge", "Sessions, by whether their client is connected.", [
      [{ state: "connected" }, g.clientsConnected],
      [{ state: "disconnected" }, g.sessionsDisconnected],
    ]),
    counter("mqtt_sessions_expired_total", "Disconnected sessions expired.", s.sessionsExpired),
    gauge("mqtt_subscriptions", "Subscriptions held by every session.", g.subscriptions),
    counter(
      "mqtt_subscriptions_refused_total",
      "Topic filters refused by max-subscriptions-per-session.",
      s.subscriptionsRefused,
    ),
    gauge("mqtt_retained_messages", "Retained messages stored.", g.retained),
    gauge(
      "mqtt_retained_bytes",
      "Bytes of topic and payload of the retained messages stored.",
      g.retainedBytes,
    ),
    counter(
      "mqtt_retained_dropped_total",
      "Retained messages delivered but not stored: max-retained-messages or -bytes reached.",
      s.retainedDropped,
    ),
    counter(
      "mqtt_retained_expired_total",
      "Retained messages deleted at their message expiry.",
      s.retainedExpired,
    ),
    counter("mqtt_packets_received_total", "MQTT packets received.", s.messagesReceived),
    counter("mqtt_packets_sent_total", "MQTT packets sent.", s.messagesSent),
    counter("mqtt_received_bytes_total", "Bytes received from clients.", s.bytesReceived),
    counter("mqtt_sent_bytes_total", "Bytes sent to clients.", s.bytesSent),
    byQos(
      "mqtt_messages_received_total",
      "PUBLISH packets received, by protocol version and QoS.",
      s.publishReceivedByQos,
    ),
    byQos(
      "mqtt_messages_sent_total",
      "PUBLISH packets sent (resends not counted), by protocol version and QoS.",
      s.publishSentByQos,
    ),
    byQos(
      "mqtt_messages_received_bytes_total",
      "Bytes of the PUBLISH packets received, by protocol version and QoS.",
      s.publishBytesReceivedByQos,
    ),
    byQos(
      "mqtt_messages_sent_bytes_total",
      "Bytes of the PUBLISH packets sent (resends not counted), by protocol version and QoS.",
      s.publishBytesSentByQos,
    ),
    labelled("mqtt_messages_dropped_total", "counter", "Messages not delivered, by reason.", [
      [{ reason: "output_bound" }, s.droppedQos0],
      [{ reason: "queue_full" }, s.droppedQueued],
      [{ reason: "too_large" }, s.droppedTooLarge],
      [{ reason: "expired" }, s.messagesExpired],
      [{ reason: "no_subscribers" }, s.droppedNoSubscribers],
      [{ reason: "no_shared_member" }, s.sharedDropped],
    ]),
    counter(
      "mqtt_messages_shared_redelivered_total",
      "Messages of shared subscriptions given to another member after theirs left.",
      s.sharedRedelivered,
    ),
    gauge("mqtt_messages_inflight", "QoS 1 and 2 messages sent and not acknowledged.", g.inflight),
    gauge(
      "mqtt_messages_queued",
      "QoS 1 and 2 messages queued behind the in-flight window.",
      g.queued,
    ),
    counter(
      "mqtt_admin_login_failures_total",
      "Failed logins to the HTTP listener.",
      source.adminLoginFailures,
    ),
    ...storeMetrics(source.store),
    ...clusterMetrics(source.cluster),
  ];
}

// ---- persistence store: its own block, read from `BrokerCore.storeHealth` ----

/** The persistence store's metric families; none without a store. */
function storeMetrics(store: StoreHealth | undefined): MetricFamily[] {
  if (!store) return [];
  const f = store.figures;
  return [
    counter("mqtt_store_commits_total", "Commits that wrote their records.", f.commits),
    counter(
      "mqtt_store_commit_failures_total",
      "Commits that failed (a full disk, an I/O error, a removed file); each retry counts.",
      f.failedCommits,
    ),
    gauge(
      "mqtt_store_failing",
      "1 while commits fail: acknowledgements wait for one to succeed.",
      store.failing ? 1 : 0,
    ),
    gauge("mqtt_store_pending_records", "Records waiting for a commit.", f.pendingRecords),
    counter(
      "mqtt_store_commit_seconds_total",
      "Time spent in successful commits, in seconds.",
      f.commitMsTotal / 1000,
    ),
    gauge(
      "mqtt_store_last_commit_seconds",
      "How long the last successful commit took, in seconds.",
      f.lastCommitMs / 1000,
    ),
    gauge("mqtt_store_bytes", "Size of the store's file and its write-ahead log.", f.bytes),
  ];
}

// ---- cluster: its own block, read from `Cluster.health` ----

/** This node's cluster metric families; none outside a cluster. */
function clusterMetrics(cluster: ClusterHealth | undefined): MetricFamily[] {
  if (!cluster) return [];
  return [
    gauge(
      "mqtt_cluster_nodes_up",
      "Nodes of the cluster up now, this one included.",
      cluster.nodesUp,
    ),
    gauge(
      "mqtt_cluster_redis_up",
      "Whether this node's link to Redis is up (1) or not (0).",
      cluster.connected ? 1 : 0,
    ),
    labelled(
      "mqtt_cluster_messages_total",
      "counter",
      "Messages handed to Redis for other nodes (out) and from other nodes delivered here (in).",
      [[{ direction: "out" }, cluster.messagesOut], [{ direction: "in" }, cluster.messagesIn]],
    ),
    counter(
      "mqtt_cluster_duplicates_total",
      "Messages from other nodes seen before (sent again after a Redis outage), not delivered.",
      cluster.duplicates,
    ),
    counter(
      "mqtt_cluster_dropped_total",
      "Messages for other nodes dropped: the buffer was full, or QoS 0 while Redis was away.",
      cluster.dropped,
    ),
    gauge(
      "mqtt_cluster_buffered_messages",
      "Messages waiting to be sent or read by their target node.",
      cluster.buffered,
    ),
  ];
}
