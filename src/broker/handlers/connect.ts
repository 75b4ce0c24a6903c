/**
 * CONNECT: protocol level, client identifier, authentication, then the broker attaches the
 * session (taking over any connection with the same client id, if it may). Refusals are decided
 * as MQTT 5.0 reason codes; the codec words them for 3.1.1.
 *
 * @module
 */
import type { ConnectPacket } from "../../protocol/packets.ts";
import type { Properties } from "../../protocol/properties.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import type { ClientInfo, Decision } from "../../plugins/types.ts";
import { authenticateConnect, authRequest, refuseConnect } from "../authentication.ts";
import type { Client } from "../client.ts";

const { UNSUPPORTED_PROTOCOL_VERSION, CLIENT_IDENTIFIER_NOT_VALID } = ReasonCode;

/** The largest value of the two-byte Receive Maximum. */
const MAX_RECEIVE = 65535;

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
    subscriptionIdentifiersAvailable: false,
    sharedSubscriptionAvailable: false,
    assignedClientIdentifier: assignedId,
  };
}

/** Handles CONNECT, the first packet of every connection. */
export function handleConnect(client: Client, packet: ConnectPacket): void | Promise<void> {
  client.connectSeq = client.broker.connectSequence();
  if (packet.returnCode !== undefined) {
    return refuseConnect(
      client,
      packet,
      UNSUPPORTED_PROTOCOL_VERSION,
      `unsupported protocol ${packet.protocolName} level ${packet.protocolVersion}`,
    );
  }
  const v5 = packet.protocolVersion === 5;
  let clientId = packet.clientId;
  let assignedId: string | undefined;
  if (clientId === "") {
    // 3.1.1 assigns an id only to a clean session; 5.0 to any, whose session then has that id.
    if (!v5 && (!packet.cleanSession || packet.protocolVersion === 3)) {
      return refuseConnect(
        client,
        packet,
        CLIENT_IDENTIFIER_NOT_VALID,
        "empty client id without clean session",
      );
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
  const admit = (admitted: ClientInfo, authentication?: Properties): void => {
    if (client.closed) return;
    const connack = v5 ? { ...connackProperties(client, assignedId), ...authentication } : {};
    const refusal = client.broker.attach(client, admitted, packet, connack);
    if (refusal) refuseConnect(client, packet, refusal.code, refusal.why);
  };
  const request = authRequest(info, packet);
  const method = v5 ? packet.properties?.authenticationMethod : undefined;
  if (method !== undefined) {
    return authenticateConnect(
      client,
      packet,
      request,
      method,
      (username, authentication) => admit({ ...info, username }, authentication),
    );
  }
  const decided = (decision: Decision): void => {
    if (client.closed) return;
    if (decision.allow) return admit(info);
    refuseConnect(client, packet, decision.reasonCode, "authentication failed", decision);
  };
  const decision = client.broker.hooks.decideAuth(request);
  if (decision instanceof Promise) return decision.then(decided);
  return decided(decision);
}
