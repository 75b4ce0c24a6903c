/**
 * `broker_sys`: the broker's own state under `$SYS/broker/`, published retained every
 * `sys_interval` seconds (0 disables), with the version published once at start.
 *
 * @module
 */
import type { Broker } from "../../broker/broker.ts";
import { VERSION } from "../../version.ts";
import type { Plugin, PluginContext } from "../types.ts";

/** `1 day, 02:03:04`-style uptime, as moat.mqtt formats it. */
function formatUptime(seconds: number): string {
  const days = Math.floor(seconds / 86400);
  const rest = seconds % 86400;
  const clock = [Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60]
    .map((n) => String(n).padStart(2, "0")).join(":");
  return days > 0 ? `${days} day${days > 1 ? "s" : ""}, ${clock}` : clock;
}

/** What `$SYS` reads of the broker. */
export type SysSource = Pick<Broker, "stats" | "gauges">;

/** Every `$SYS/broker/...` value, by topic suffix. */
export function sysValues(broker: SysSource): Record<string, string | number> {
  const s = broker.stats;
  const g = broker.gauges;
  const uptime = formatUptime(g.uptimeSeconds);
  return {
    "load/bytes/received": s.bytesReceived,
    "load/bytes/sent": s.bytesSent,
    "messages/received": s.messagesReceived,
    "messages/sent": s.messagesSent,
    "time": new Date().toISOString(),
    "uptime": g.uptimeSeconds,
    "uptime/formatted": uptime,
    "uptime/formated": uptime,
    "clients/connected": g.clientsConnected,
    "clients/disconnected": g.sessionsDisconnected,
    "clients/maximum": s.clientsMaximum,
    "clients/total": g.sessionsTotal,
    "clients/refused": s.connectionsRefused + s.sessionsRefused,
    "clients/refused/connections": s.connectionsRefused,
    "clients/refused/sessions": s.sessionsRefused,
    "clients/expired": s.sessionsExpired,
    "clients/protocol/3": g.clientsByVersion[3],
    "clients/protocol/4": g.clientsByVersion[4],
    "clients/protocol/5": g.clientsByVersion[5],
    "clients/protocol/3/total": s.connectionsMqtt31,
    "clients/protocol/4/total": s.connectionsMqtt311,
    "clients/protocol/5/total": s.connectionsMqtt5,
    "messages/inflight": g.inflight,
    "messages/queued": g.queued,
    "messages/publish/received": s.publishReceived,
    "messages/publish/sent": s.publishSent,
    "messages/publish/dropped": s.droppedQos0 + s.droppedQueued + s.droppedTooLarge +
      s.messagesExpired + s.sharedDropped,
    "messages/publish/dropped/qos0": s.droppedQos0,
    "messages/publish/dropped/queued": s.droppedQueued,
    "messages/publish/dropped/too-large": s.droppedTooLarge,
    "messages/publish/dropped/expired": s.messagesExpired,
    "messages/publish/dropped/shared": s.sharedDropped,
    "messages/publish/shared/redelivered": s.sharedRedelivered,
    "messages/retained/count": g.retained,
    "messages/retained/bytes": g.retainedBytes,
    "messages/retained/dropped": s.retainedDropped,
    "messages/retained/expired": s.retainedExpired,
    "messages/subscriptions/count": g.subscriptions,
    "messages/subscriptions/refused": s.subscriptionsRefused,
  };
}

/** Makes the `broker_sys` plugin for a broker. */
export function brokerSys(broker: SysSource): Plugin {
  let timer: ReturnType<typeof setInterval> | undefined;
  let context: PluginContext | undefined;
  const publishAll = () => {
    for (const [suffix, value] of Object.entries(sysValues(broker))) {
      context!.publish({
        topic: `$SYS/broker/${suffix}`,
        payload: new TextEncoder().encode(String(value)),
        qos: 0,
        retain: true,
      });
    }
  };
  return {
    name: "broker_sys",
    setup(ctx) {
      context = ctx;
      ctx.publish({
        topic: "$SYS/broker/version",
        payload: new TextEncoder().encode(`broker ${VERSION}`),
        qos: 0,
        retain: true,
      });
    },
    on: {
      broker_post_start() {
        const interval = context!.config.sysIntervalMs;
        if (interval > 0) timer = setInterval(publishAll, interval);
      },
    },
    teardown() {
      clearInterval(timer);
    },
  };
}
