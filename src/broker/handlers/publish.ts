/**
 * PUBLISH from a client: topic checks, routing, and the acknowledgement its QoS asks for. A QoS 2
 * message is routed when first received and never again for the same packet identifier until
 * PUBREL releases it.
 *
 * @module
 */
import { encodeAck } from "../../protocol/encode.ts";
import { PacketType, type PublishPacket } from "../../protocol/packets.ts";
import { RoutedMessage } from "../message.ts";
import type { Client } from "../client.ts";

function acknowledge(client: Client, packet: PublishPacket): void {
  if (packet.qos === 1) client.send(encodeAck(PacketType.PUBACK, packet.packetId));
  else if (packet.qos === 2) {
    client.session!.awaitingRelease.add(packet.packetId);
    client.send(encodeAck(PacketType.PUBREC, packet.packetId));
  }
}

function accept(client: Client, packet: PublishPacket, allowed: boolean): void {
  if (client.closed) return;
  if (allowed) {
    client.broker.route(
      new RoutedMessage(
        packet.topic,
        packet.payload,
        packet.qos,
        packet.retain,
        packet.frame,
        packet.packetIdOffset,
      ),
      client.info,
    );
  } else {
    client.broker.logger.info(`denied ${client.label} publishing to ${packet.topic}`);
  }
  acknowledge(client, packet);
}

/**
 * Handles PUBLISH from a connected client. An async verdict keeps this client's messages in order
 * because the read loop awaits the returned promise before it dispatches the next packet.
 */
export function handlePublish(client: Client, packet: PublishPacket): void | Promise<void> {
  const broker = client.broker;
  broker.stats.publishReceived++;
  if (packet.qos === 2 && client.session!.awaitingRelease.has(packet.packetId)) {
    client.send(encodeAck(PacketType.PUBREC, packet.packetId));
    return;
  }
  // `$SYS` belongs to the broker, whatever any ACL says.
  if (packet.topic === "$SYS" || packet.topic.startsWith("$SYS/")) {
    return accept(client, packet, false);
  }
  const verdict = broker.hooks.checkTopic(client.info!, packet.topic, "publish");
  if (typeof verdict === "boolean") return accept(client, packet, verdict);
  return verdict.then((allowed) => accept(client, packet, allowed));
}
