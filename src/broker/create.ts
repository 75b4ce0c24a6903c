/**
 * `createBroker`: configuration, plugins and listeners in one call.
 *
 * @module
 */
import process from "node:process";
import type { BrokerConfig } from "../config/types.ts";
import { resolveConfig } from "../config/resolve.ts";
import { createLogger, type Logger, type LogLevel } from "../log.ts";
import { PluginManager } from "../plugins/manager.ts";
import { brokerSys } from "../plugins/builtin/broker_sys.ts";
import { growDescriptorTable } from "../runtime/descriptors.ts";
import { getRuntimeAdapter } from "../runtime/select.ts";
import type { RuntimeAdapter } from "../runtime/types.ts";
import { type Bridges, startBridges } from "../bridge/start.ts";
import { Broker } from "./broker.ts";
import { BrokerCore } from "./core.ts";
import { AdminServer } from "../admin/server.ts";
import { openSqliteStore } from "../store/sqlite/sqlite.ts";
import { type Cluster, startCluster } from "../cluster/cluster.ts";
import { SessionMirror } from "../cluster/mirror.ts";
import { memoryStore } from "../store/memory/memory.ts";
import { TeeStore } from "../store/tee.ts";
import type { HeldBridge } from "./bridge_seam.ts";

/**
 * The descriptor table is grown at start to hold this many (see descriptors.ts), or more with
 * many stored sessions, whose clients come back at once after a restart: a quarter of this beside
 * one per session, up to {@link MAX_DESCRIPTORS}.
 */
const DESCRIPTORS_AT_START = 4096;
/** Past this, growing at start would cost more than the pauses it spares (some 0.3 s of opens). */
const MAX_DESCRIPTORS = 65536;

/** Options that are not part of the configuration schema. */
export interface CreateBrokerOptions {
  /** Where log lines go; default: stderr at `logLevel`. */
  logger?: Logger;
  /** Default `warn` for embedders (the CLI uses `info`); the `log-level` key wins over it. */
  logLevel?: LogLevel;
  /** Folder that relative paths in the configuration are relative to; default: the cwd. */
  baseDir?: string;
  /** The network layer; default: the one for the runtime this runs on. */
  adapter?: RuntimeAdapter;
  /**
   * Stops the broker as `close()` does when aborted, so that it can run inside the caller's own
   * task group. Already aborted: the broker starts and is closed at once.
   */
  signal?: AbortSignal;
}

/**
 * Validates the configuration, loads the plugins, binds every listener and returns the running
 * broker. Rejects with a `ConfigError` listing every problem, a `StoreError` naming a store that
 * cannot be opened, or an error naming the listener that could not bind.
 *
 * @example
 * ```ts
 * await using broker = await createBroker({ listeners: { default: { bind: "127.0.0.1:1883" } } });
 * broker.on("broker_client_connected", (client) => console.log(client.clientId));
 * ```
 */
export async function createBroker(
  config: BrokerConfig = {},
  options: CreateBrokerOptions = {},
): Promise<Broker> {
  const resolved = await resolveConfig(config, { baseDir: options.baseDir ?? process.cwd() });
  const logger = options.logger ??
    createLogger(resolved.logLevel ?? options.logLevel ?? "warn", undefined, resolved.logFormat);
  const persistence = resolved.persistence;
  const store = persistence ? openSqliteStore(persistence.path, persistence.sync) : undefined;
  // In a cluster, durable sessions are copied to Redis too, for any node to resume.
  const mirror = resolved.cluster ? new SessionMirror(logger) : undefined;
  const core = new BrokerCore(
    resolved,
    logger,
    mirror ? new TeeStore(store ?? memoryStore(), mirror) : store,
  );
  const broker = new Broker(core);
  let cluster: Cluster | undefined;
  let held: Map<string, HeldBridge> | undefined;
  try {
    core.hooks = await PluginManager.load(resolved, core.logger, (m) => broker.publish(m), {
      broker_sys: () => brokerSys(broker),
    });
    if (resolved.cluster && mirror) {
      cluster = await startCluster(
        resolved.cluster,
        {
          route: (message, from) => core.route(message, from),
          deliverFromCluster: (message, plain, shares) =>
            core.deliverFromCluster(message, plain, shares),
          clusterBackedUp: () => core.clusterBackedUp(),
          holdAcknowledgement: (hold) => core.holdAcknowledgement(hold),
          holdForCommit: (flush) => core.holdForCommit(flush),
          retainFromCluster: (message) => core.retainFromCluster(message),
          retainedMessages: () => core.retainedMessages(),
          takeOverFromCluster: (clientId, username) => core.takeOverFromCluster(clientId, username),
          handOver: (clientId, username) => core.handOver(clientId, username),
          letGo: (clientId, username) => core.letGo(clientId, username),
          expect: (info, subscriptions) => core.expect(info, subscriptions),
          checkTopic: (info, topic) => core.hooks.checkTopic(info, topic, "publish"),
          durable: store !== undefined,
        },
        core.logger,
        resolved.sysIntervalMs,
        mirror,
      );
      // Before restore, so that the restored subscriptions are announced.
      core.joinCluster(cluster);
      const joined = cluster;
      core.onClose(() => joined.close());
    }
    // After the plugins: wills and expiries due at restore are judged by them like any other.
    const restored = store && core.store.load();
    if (restored) held = core.restore(restored);
  } catch (error) {
    await cluster?.close();
    // What failed the start is the error to report, not a close of a store that wrote nothing.
    await store?.close().catch(() => {});
    throw error;
  }
  // Started after the listeners; the admin API may be asked before.
  const running: { bridges?: Bridges } = {};
  let admin: AdminServer | undefined;
  if (resolved.listeners.some((l) => l.type === "http")) {
    admin = new AdminServer({
      stats: core.stats,
      get gauges() {
        return core.gauges;
      },
      get listeners() {
        return core.listeners;
      },
      connectionsByListener: core.connectionsByListener,
      get store() {
        return store && core.storeHealth;
      },
      get cluster() {
        return cluster?.health;
      },
      get sessions() {
        return core.sessions;
      },
      config: resolved,
      publish: (options) => broker.publish(options),
      subscribe: (filter, handler) => broker.subscribe(filter, handler),
      bridges: () => running.bridges?.figures() ?? new Map(),
    }, core.logger);
    admin.readiness.add("listeners", () => core.ready);
    if (store) admin.readiness.add("store", () => !core.storeHealth?.failing);
    const node = cluster;
    if (node) admin.readiness.add("cluster", () => node.health.connected);
    core.httpHandler = admin.handle;
    const endpoints = admin;
    core.onClose(() => endpoints.stop());
  }
  core.emit("broker_pre_start");
  try {
    await core.listen(options.adapter ?? await getRuntimeAdapter());
  } catch (error) {
    await core.close();
    throw error;
  }
  let sessions = 0;
  for (const _ of core.sessions) sessions++;
  // In the background, between the other sockets' turns: the listeners are open.
  const growing = growDescriptorTable(
    Math.min(Math.max(DESCRIPTORS_AT_START, sessions + DESCRIPTORS_AT_START / 4), MAX_DESCRIPTORS),
  );
  core.onClose(() => growing.then(() => {}));
  const started = startBridges(
    resolved.bridges,
    core,
    core.logger,
    resolved.sysIntervalMs,
    held,
  );
  for (const [clientId, { deliveries, awaitingRelease }] of held ?? []) {
    core.logger.warn(
      `persistence: ${deliveries.length} queued messages of ${clientId}, a bridge no longer ` +
        "configured, dropped",
    );
    for (const { delivery } of deliveries) {
      core.store.deliveryRemoved(clientId, delivery.seq, delivery.messageId);
    }
    for (const packetId of awaitingRelease) core.store.receiveRemoved(clientId, packetId);
  }
  running.bridges = started;
  core.onClose(() => started.stop());
  for (const listener of core.listeners) {
    if (admin && listener.type === "http") admin.announce(listener);
  }
  core.emit("broker_post_start");
  const { signal } = options;
  if (signal) {
    const stop = () => void core.close();
    if (signal.aborted) stop();
    else {
      signal.addEventListener("abort", stop, { once: true });
      // However it is closed, the signal must not keep the broker reachable.
      core.closed.then(() => signal.removeEventListener("abort", stop));
    }
  }
  return broker;
}
