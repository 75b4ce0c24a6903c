/**
 * PUBLISH from a client: topic checks, routing, and the acknowledgement its QoS asks for. A QoS 2
 * message is routed when first received and never again for the same packet identifier until
 * PUBREL releases it. A 5.0 publisher is told in the acknowledgement when nobody subscribes (0x10)
 * and when the topic is denied (0x87); a 3.1.1 one, which has no such field, only gets the ack.
 *
 * @module
 */
import {
  PacketType,
  ProtocolError,
  type ProtocolLevel,
  type PublishPacket,
} from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import { NOT_AUTHORIZED } from "../../plugins/decision.ts";
import type { Decision } from "../../plugins/types.ts";
import { RoutedMessage } from "../message.ts";
import type { Client } from "../client.ts";

const { SUCCESS, NO_MATCHING_SUBSCRIBERS } = ReasonCode;

function acknowledge(
  client: Client,
  packet: PublishPacket,
  code: number,
  reasonString?: string,
): void {
  const { codec } = client;
  if (packet.qos === 1) {
    client.send(codec.ack(PacketType.PUBACK, packet.packetId, code, reasonString));
  } else if (packet.qos === 2) {
    // A 5.0 PUBREC with a failure code ends the exchange: no PUBREL follows (MQTT 5.0 4.3.3).
    if (code < 0x80 || !codec.v5) client.session!.awaitRelease(packet.packetId);
    client.send(codec.ack(PacketType.PUBREC, packet.packetId, code, reasonString));
  }
}

function accept(client: Client, packet: PublishPacket, decision: Decision): void {
  if (client.closed) return;
  let code = decision.reasonCode;
  if (decision.allow) {
    const message = RoutedMessage.fromPublish(packet, client.codec.version || 4);
    code = client.broker.route(message, client.info) > 0 ? SUCCESS : NO_MATCHING_SUBSCRIBERS;
  } else {
    client.broker.logger.info(`denied ${client.label} publishing to ${packet.topic}`);
  }
  acknowledge(client, packet, code, decision.reasonString);
}

/**
 * Handles PUBLISH from a connected client. An async verdict keeps this client's messages in order
 * because the read loop awaits the returned promise before it dispatches the next packet.
 */
export function handlePublish(client: Client, packet: PublishPacket): void | Promise<void> {
  const broker = client.broker;
  const { stats } = broker;
  // A session exists, so CONNECT has set the version.
  const version = client.codec.version as ProtocolLevel;
  stats.publishReceived++;
  stats.publishReceivedByQos[version][packet.qos]++;
  stats.publishBytesReceivedByQos[version][packet.qos] += packet.frame.length;
  const session = client.session!;
  if (packet.qos === 2 && session.awaitingRelease.has(packet.packetId)) {
    client.send(client.codec.ack(PacketType.PUBREC, packet.packetId));
    return;
  }
  // The broker's Receive Maximum (MQTT 5.0 3.2.2.3.3, 4.9): QoS 1/2 PUBLISHes not yet answered
  // by PUBACK or PUBCOMP. A QoS 1 one is answered before the next packet is read, so what counts
  // is the QoS 2 ones waiting for PUBREL; one more than that is a DISCONNECT 0x93.
  if (
    packet.qos > 0 && client.codec.v5 &&
    session.awaitingRelease.size >= broker.config.limits.maxInflightMessages
  ) {
    throw new ProtocolError(
      `more than the receive maximum ${broker.config.limits.maxInflightMessages} QoS 1/2 messages unacknowledged`,
      ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
    );
  }
  // `$SYS` belongs to the broker, whatever any ACL says.
  if (packet.topic === "$SYS" || packet.topic.startsWith("$SYS/")) {
    return accept(client, packet, NOT_AUTHORIZED);
  }
  const decision = broker.hooks.decideTopic(client.info!, packet.topic, "publish");
  if (decision instanceof Promise) return decision.then((d) => accept(client, packet, d));
  return accept(client, packet, decision);
}
