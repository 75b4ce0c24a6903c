/**
 * SUBSCRIBE: a malformed filter closes the connection; otherwise each filter is answered on its
 * own in SUBACK (granted QoS, or a 5.0 reason code that 3.1.1 reads as 0x80): the topic plugins
 * may refuse (0x87, or the code and reason string they give), and `max-subscriptions-per-session` may be reached (0x97). Then the retained
 * messages of the granted filters follow, as their retain handling says; shared subscriptions get
 * none (MQTT 5.0 4.8.2).
 *
 * @module
 */
import { ProtocolError, type SubscribePacket } from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import { sharedFilter, subscriptionFilterError } from "../../protocol/topic.ts";
import type { Decision } from "../../plugins/types.ts";
import { subscriptionOptions } from "../subscriptions.ts";
import type { Client } from "../client.ts";

const { QUOTA_EXCEEDED } = ReasonCode;

function grant(client: Client, packet: SubscribePacket, verdicts: Decision[]): void {
  if (client.closed) return;
  const broker = client.broker;
  const session = client.session!;
  // The property codec allows several, as in PUBLISH; a SUBSCRIBE has one (MQTT 5.0 3.8.2.1.2).
  const ids = packet.properties?.subscriptionIdentifier;
  const id = typeof ids === "object" ? ids[0] : ids;
  const existed = packet.subscriptions.map(({ filter }) => session.subscriptions.has(filter));
  // SUBACK has one reason string: the first refusal's.
  let reasonString: string | undefined;
  const granted = packet.subscriptions.map((request, i) => {
    const verdict = verdicts[i];
    if (!verdict.allow) {
      broker.logger.info(`denied ${client.label} subscribing to ${request.filter}`);
      reasonString ??= verdict.reasonString;
      return verdict.reasonCode;
    }
    const group = sharedFilter(request.filter)?.group;
    const options = subscriptionOptions(request, request.qos, id, group);
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
    if (typeof options === "number" || options.shareGroup !== undefined) return;
    // Retain handling 1: only for a new subscription; 2: never (MQTT 5.0 3.8.3.1).
    const handling = options.retainHandling;
    if (handling === 2 || (handling === 1 && existed[i])) return;
    broker.sendRetained(client, filter, options);
  });
}

/**
 * Handles SUBSCRIBE. A malformed filter is a malformed packet (MQTT 3.1.1 4.7.1, 5.0 4.7.1 and
 * 4.13; 0x8F in a 5.0 SUBACK is for well-formed filters the server does not allow): the
 * connection closes without SUBACK, as with Mosquitto, after DISCONNECT 0x81 for 5.0. A `$share/`
 * filter without a valid share name or topic filter (5.0 4.8.2) is malformed the same way, in
 * either version. The topic plugins judge a shared subscription by the filter inside it: that is
 * what says which messages it receives.
 */
export function handleSubscribe(client: Client, packet: SubscribePacket): void | Promise<void> {
  const broker = client.broker;
  for (const { filter } of packet.subscriptions) {
    const error = subscriptionFilterError(filter);
    if (error) throw new ProtocolError(`SUBSCRIBE to ${JSON.stringify(filter)}: ${error}`);
  }
  const answers = packet.subscriptions.map(({ filter }) =>
    broker.hooks.decideTopic(client.info!, sharedFilter(filter)?.filter ?? filter, "subscribe")
  );
  if (answers.every((a) => !(a instanceof Promise))) {
    return grant(client, packet, answers as Decision[]);
  }
  return Promise.all(answers).then((verdicts) => grant(client, packet, verdicts));
}
