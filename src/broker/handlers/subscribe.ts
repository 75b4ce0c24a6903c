/**
 * SUBSCRIBE: a malformed filter closes the connection; otherwise each filter is checked on its
 * own (a refused one gets 0x80 while the rest is granted; so does one beyond
 * `max-subscriptions-per-session`), then SUBACK, then the retained messages of the granted filters.
 *
 * @module
 */
import { encodeSuback } from "../../protocol/encode.ts";
import { ProtocolError, type SubscribePacket } from "../../protocol/packets.ts";
import { topicFilterError } from "../../protocol/topic.ts";
import type { Client } from "../client.ts";

const FAILURE = 0x80;

function grant(client: Client, packet: SubscribePacket, verdicts: boolean[]): void {
  if (client.closed) return;
  const broker = client.broker;
  const codes = packet.subscriptions.map(({ filter, qos }, i) => {
    if (!verdicts[i]) {
      broker.logger.info(`denied ${client.label} subscribing to ${filter}`);
      return FAILURE;
    }
    return broker.subscribe(client, filter, qos) ? qos : FAILURE;
  });
  client.send(encodeSuback(packet.packetId, codes));
  packet.subscriptions.forEach(({ filter, qos }, i) => {
    if (codes[i] !== FAILURE) broker.sendRetained(client, filter, qos);
  });
}

/**
 * Handles SUBSCRIBE. A malformed filter is a protocol violation (MQTT 3.1.1 4.7.1), not a refusal:
 * the connection closes without SUBACK, as with Mosquitto.
 */
export function handleSubscribe(client: Client, packet: SubscribePacket): void | Promise<void> {
  const broker = client.broker;
  for (const { filter } of packet.subscriptions) {
    const error = topicFilterError(filter);
    if (error) throw new ProtocolError(`SUBSCRIBE to ${JSON.stringify(filter)}: ${error}`);
  }
  const answers = packet.subscriptions.map(({ filter }) =>
    broker.hooks.checkTopic(client.info!, filter, "subscribe")
  );
  if (answers.every((a) => typeof a === "boolean")) {
    return grant(client, packet, answers as boolean[]);
  }
  return Promise.all(answers).then((verdicts) => grant(client, packet, verdicts));
}
