/**
 * CONNECT: protocol level, client identifier, authentication, then the broker attaches the
 * session (taking over any connection with the same client id, if it may). Refusals are decided
 * as MQTT 5.0 reason codes; the codec words them for 3.1.1.
 *
 * @module
 */
import type { ConnectPacket } from "../../protocol/packets.ts";
import type { Properties } from "../../protocol/properties.ts";
import { ReasonCode, reasonName } from "../../protocol/reason.ts";
import type { ClientInfo } from "../../plugins/types.ts";
import type { Client } from "../client.ts";

const {
  UNSUPPORTED_PROTOCOL_VERSION,
  CLIENT_IDENTIFIER_NOT_VALID,
  BAD_USER_NAME_OR_PASSWORD,
  NOT_AUTHORIZED,
  BAD_AUTHENTICATION_METHOD,
} = ReasonCode;

/** The largest value of the two-byte Receive Maximum. */
const MAX_RECEIVE = 65535;

function refuse(client: Client, code: number, why: string): void {
  const connack = client.codec.connack(code, false);
  if (connack) client.send(connack);
  client.broker.logger.info(`refused ${client.label}: ${why} (${reasonName(code)})`);
  client.close("refused");
}

/**
 * What a 5.0 CONNACK tells the client about this broker: its limits, and the features it does not
 * offer yet (absent properties would mean "available").
 */
function connackProperties(client: Client, assignedId: string | undefined): Properties {
  const { maxInflightMessages, maxPacketSize } = client.broker.config.limits;
  return {
    receiveMaximum: Math.min(maxInflightMessages, MAX_RECEIVE),
    maximumPacketSize: maxPacketSize,
    topicAliasMaximum: client.codec.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
    assignedClientIdentifier: assignedId,
  };
}

/** Handles CONNECT, the first packet of every connection. */
export function handleConnect(client: Client, packet: ConnectPacket): void | Promise<void> {
  client.connectSeq = client.broker.connectSequence();
  if (packet.returnCode !== undefined) {
    return refuse(
      client,
      UNSUPPORTED_PROTOCOL_VERSION,
      `unsupported protocol ${packet.protocolName} level ${packet.protocolVersion}`,
    );
  }
  const v5 = packet.protocolVersion === 5;
  if (v5 && packet.properties?.authenticationMethod !== undefined) {
    return refuse(
      client,
      BAD_AUTHENTICATION_METHOD,
      `authentication method ${JSON.stringify(packet.properties.authenticationMethod)} not offered`,
    );
  }
  let clientId = packet.clientId;
  let assignedId: string | undefined;
  if (clientId === "") {
    // 3.1.1 assigns an id only to a clean session; 5.0 to any, whose session then has that id.
    if (!v5 && (!packet.cleanSession || packet.protocolVersion === 3)) {
      return refuse(client, CLIENT_IDENTIFIER_NOT_VALID, "empty client id without clean session");
    }
    clientId = assignedId = client.broker.newClientId();
  }
  const info: ClientInfo = {
    clientId,
    username: packet.username,
    remoteAddr: client.conn.remoteAddr,
    listener: client.listener,
    cleanSession: packet.cleanSession,
    protocolVersion: packet.protocolVersion,
  };
  const admit = (allowed: boolean): void => {
    if (client.closed) return;
    if (!allowed) {
      // An empty user name is anonymous to the plugins, so its refusal says "not authorized" too.
      const code = packet.username ? BAD_USER_NAME_OR_PASSWORD : NOT_AUTHORIZED;
      return refuse(client, code, `authentication failed for ${info.clientId}`);
    }
    const connack = v5 ? connackProperties(client, assignedId) : {};
    const refusal = client.broker.attach(client, info, packet, connack);
    if (refusal) refuse(client, refusal.code, refusal.why);
  };
  const verdict = client.broker.hooks.authenticate({ ...info, password: packet.password });
  if (typeof verdict === "boolean") return admit(verdict);
  return verdict.then(admit);
}
