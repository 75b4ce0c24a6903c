/**
 * SUBSCRIBE: a malformed filter closes the connection; otherwise each filter is answered on its
 * own in SUBACK (granted QoS, or a 5.0 reason code that 3.1.1 reads as 0x80): a shared
 * subscription or a subscription identifier is not supported yet, the topic plugins may refuse
 * (0x87), and `max-subscriptions-per-session` may be reached (0x97). Then the retained messages of
 * the granted filters follow.
 *
 * @module
 */
import { ProtocolError, type SubscribePacket } from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import { topicFilterError } from "../../protocol/topic.ts";
import type { Decision } from "../../plugins/types.ts";
import { subscriptionOptions } from "../subscriptions.ts";
import type { Client } from "../client.ts";

const {
  QUOTA_EXCEEDED,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
} = ReasonCode;

/** Why a filter is refused before any plugin is asked, or undefined. */
function unsupported(packet: SubscribePacket, filter: string): number | undefined {
  if (filter.startsWith("$share/")) return SHARED_SUBSCRIPTIONS_NOT_SUPPORTED;
  if (packet.properties?.subscriptionIdentifier !== undefined) {
    return SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED;
  }
  return undefined;
}

function grant(client: Client, packet: SubscribePacket, verdicts: (Decision | number)[]): void {
  if (client.closed) return;
  const broker = client.broker;
  // SUBACK has one reason string: the first refusal's.
  let reasonString: string | undefined;
  const granted = packet.subscriptions.map((request, i) => {
    const verdict = verdicts[i];
    if (typeof verdict === "number") return verdict;
    if (!verdict.allow) {
      broker.logger.info(`denied ${client.label} subscribing to ${request.filter}`);
      reasonString ??= verdict.reasonString;
      return verdict.reasonCode;
    }
    const options = subscriptionOptions(request);
    return broker.subscribe(client, request.filter, options) ? options : QUOTA_EXCEEDED;
  });
  client.send(
    client.codec.suback(
      packet.packetId,
      granted.map((g) => typeof g === "number" ? g : g.qos),
      reasonString,
    ),
  );
  packet.subscriptions.forEach(({ filter }, i) => {
    const options = granted[i];
    if (typeof options !== "number") broker.sendRetained(client, filter, options);
  });
}

/**
 * Handles SUBSCRIBE. A malformed filter is a malformed packet (MQTT 3.1.1 4.7.1, 5.0 4.7.1 and
 * 4.13; 0x8F in a 5.0 SUBACK is for well-formed filters the server does not allow): the
 * connection closes without SUBACK, as with Mosquitto, after DISCONNECT 0x81 for 5.0.
 */
export function handleSubscribe(client: Client, packet: SubscribePacket): void | Promise<void> {
  const broker = client.broker;
  for (const { filter } of packet.subscriptions) {
    const error = topicFilterError(filter);
    if (error) throw new ProtocolError(`SUBSCRIBE to ${JSON.stringify(filter)}: ${error}`);
  }
  const answers = packet.subscriptions.map(({ filter }) =>
    unsupported(packet, filter) ?? broker.hooks.decideTopic(client.info!, filter, "subscribe")
  );
  if (answers.every((a) => !(a instanceof Promise))) {
    return grant(client, packet, answers as (Decision | number)[]);
  }
  return Promise.all(answers).then((verdicts) => grant(client, packet, verdicts));
}
