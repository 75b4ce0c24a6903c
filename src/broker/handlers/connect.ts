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
import type { Refusal } from "../context.ts";
import { authenticateConnect, authRequest, refuseConnect } from "../authentication.ts";
import type { Client } from "../client.ts";
import { BRIDGE_SESSION_PREFIX } from "../bridge_seam.ts";
import { sessionExpiryMs } from "../session.ts";
import { inTurn } from "../admission.ts";

const { UNSUPPORTED_PROTOCOL_VERSION, CLIENT_IDENTIFIER_NOT_VALID } = ReasonCode;

/** The largest value of the two-byte Receive Maximum. */
const MAX_RECEIVE = 65535;

/**
 * What a 5.0 CONNACK tells the client about this broker: its limits, and the features it does not
 * offer yet (absent properties would mean "available"; Maximum QoS is left out: 2).
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

/**
 * How long the session outlives the connection, in ms (0: not at all, Infinity: for ever). A
 * 5.0 client chooses (absent is 0, even with clean start 0: 3.1.2.11.2), within
 * `max-session-expiry`; a capped value is told in CONNACK (3.2.2.3.2). 3.1.1 clean-session 0
 * gets `persistent-session-expiry`.
 */
function sessionExpiry(client: Client, packet: ConnectPacket, connack: Properties): number {
  const { persistentSessionExpiryMs, maxSessionExpiryMs } = client.broker.config.limits;
  if (packet.protocolVersion !== 5) {
    if (packet.cleanSession) return 0;
    return persistentSessionExpiryMs === 0 ? Infinity : persistentSessionExpiryMs;
  }
  const interval = packet.properties?.sessionExpiryInterval ?? 0;
  const ms = sessionExpiryMs(interval, maxSessionExpiryMs);
  if (ms !== sessionExpiryMs(interval, 0)) connack.sessionExpiryInterval = Math.ceil(ms / 1000);
  return ms;
}

/**
 * The keepalive the broker enforces, in seconds: the client's, or `max-keepalive` when that is
 * set and the client asks for more or for none; a 5.0 client is told in CONNACK (Server Keep
 * Alive, 3.2.2.3.14). Undefined refuses a 3.1.1 client, which cannot be told (as Mosquitto 2).
 */
function keepalive(client: Client, packet: ConnectPacket, connack: Properties): number | undefined {
  const max = client.broker.config.limits.maxKeepaliveMs / 1000;
  const asked = packet.keepalive;
  if (max === 0 || (asked > 0 && asked <= max)) return asked;
  if (packet.protocolVersion !== 5) return undefined;
  connack.serverKeepAlive = max;
  return max;
}

/**
 * Response Information for a client that asked (3.1.2.11.6): `response-topic-prefix/<client
 * id>`, a topic of its own; none when unset, or when the client id would not make one level of
 * a topic name (the standard lets the broker send none).
 */
function responseInformation(client: Client, clientId: string): string | undefined {
  const prefix = client.broker.config.responseTopicPrefix;
  if (!prefix || !client.codec.responseInformation || /[/+#]/.test(clientId)) return undefined;
  return `${prefix}/${clientId}`;
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
  const connack: Properties = {};
  const seconds = keepalive(client, packet, connack);
  if (seconds === undefined) {
    const max = client.broker.config.limits.maxKeepaliveMs / 1000;
    return refuseConnect(
      client,
      packet,
      CLIENT_IDENTIFIER_NOT_VALID,
      `keepalive ${packet.keepalive} s (0: none) is not within max-keepalive ${max} s`,
    );
  }
  let clientId = packet.clientId;
  if (clientId.startsWith(BRIDGE_SESSION_PREFIX)) {
    return refuseConnect(
      client,
      packet,
      CLIENT_IDENTIFIER_NOT_VALID,
      `client id ${clientId}: ${BRIDGE_SESSION_PREFIX} is reserved for the broker's bridges`,
    );
  }
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
  const attach = (admitted: ClientInfo, authentication: Properties | undefined): void => {
    if (client.closed) return;
    const expiryMs = sessionExpiry(client, packet, connack);
    const properties = v5
      ? {
        ...connackProperties(client, assignedId),
        ...connack,
        ...authentication,
        responseInformation: responseInformation(client, clientId),
      }
      : {};
    client.keepaliveMs = seconds * 1000;
    const refusal = client.broker.attach(client, admitted, packet, properties, expiryMs);
    if (refusal) refuse(refusal);
  };
  const refuse = (refusal: Refusal): void => {
    refuseConnect(client, packet, refusal.code, refusal.why, { reasonString: refusal.reason });
  };
  // In a cluster, the lease and a session handed over by another node come first.
  const admit = (admitted: ClientInfo, authentication?: Properties): void | Promise<void> => {
    if (client.closed) return;
    client.broker.stats.authSucceeded++;
    const claimed = client.broker.claim(admitted, packet);
    if (!claimed) return attach(admitted, authentication);
    return claimed.then((refusal) => {
      if (client.closed) return;
      if (refusal) refuse(refusal);
      else attach(admitted, authentication);
    });
  };
  const request = authRequest(info, packet);
  const method = v5 ? packet.properties?.authenticationMethod : undefined;
  if (method !== undefined) {
    return authenticateConnect(
      client,
      packet,
      request,
      method,
      (username, authentication) =>
        void admit({ ...info, username }, authentication)?.catch((error: Error) =>
          client.close("error", error.message)
        ),
    );
  }
  const decided = (decision: Decision): void | Promise<void> => {
    if (client.closed) return;
    if (decision.allow) return admit(info);
    refuseConnect(client, packet, decision.reasonCode, "authentication failed", decision);
  };
  const decision = client.broker.hooks.decideAuth(request);
  if (decision instanceof Promise) return decision.then((answer) => inTurn(() => decided(answer)));
  return decided(decision);
}
