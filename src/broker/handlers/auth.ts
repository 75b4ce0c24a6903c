/**
 * AUTH (MQTT 5 §4.12): the client's answers in an enhanced authentication exchange, during its
 * CONNECT or in a re-authentication. While the CONNECT's exchange runs, any other packet is a
 * protocol error, answered with CONNACK 0x82 (a DISCONNECT may not come before CONNACK); once
 * connected, a client that authenticated with a method may re-authenticate with AUTH 0x19 and
 * the same method while its traffic goes on, and a failure is DISCONNECT with the failure's code.
 *
 * @module
 */
import {
  type AuthPacket,
  type ClientPacket,
  PacketType,
  protocolError,
} from "../../protocol/packets.ts";
import { ReasonCode } from "../../protocol/reason.ts";
import type { AuthRequest } from "../../plugins/types.ts";
import { Authentication, refuseConnect } from "../authentication.ts";
import type { Client } from "../client.ts";

const { SUCCESS, CONTINUE_AUTHENTICATION, RE_AUTHENTICATE, PROTOCOL_ERROR } = ReasonCode;

/** Why `packet` cannot continue `exchange`, or undefined when it can. */
function continueProblem(packet: ClientPacket, exchange: Authentication): string | undefined {
  if (packet.type !== PacketType.AUTH) return `packet type ${packet.type} during authentication`;
  if (packet.reasonCode !== CONTINUE_AUTHENTICATION) {
    return `AUTH reason 0x${packet.reasonCode.toString(16)} during authentication`;
  }
  const method = packet.properties.authenticationMethod;
  if (method !== exchange.method) {
    return `AUTH with method ${JSON.stringify(method)} in a ${exchange.method} exchange`;
  }
  return undefined;
}

/**
 * Handles a packet of a client whose CONNECT is in an enhanced authentication `exchange`: only
 * an AUTH 0x18 with the exchange's method may come.
 */
export function handleConnectAuth(
  client: Client,
  exchange: Authentication,
  packet: ClientPacket,
): void | Promise<void> {
  const problem = continueProblem(packet, exchange);
  if (problem !== undefined) {
    return refuseConnect(client, exchange.connect!, PROTOCOL_ERROR, problem);
  }
  return exchange.step((packet as AuthPacket).properties.authenticationData);
}

/** Handles AUTH from a connected client: a re-authentication, or the next step of one. */
export function handleAuth(client: Client, packet: AuthPacket): void | Promise<void> {
  const running = client.authentication;
  if (running !== undefined) {
    const problem = continueProblem(packet, running);
    if (problem !== undefined) throw protocolError(problem);
    void running.step(packet.properties.authenticationData);
    return;
  }
  const method = packet.properties.authenticationMethod;
  if (packet.reasonCode !== RE_AUTHENTICATE) {
    throw protocolError(`AUTH reason 0x${packet.reasonCode.toString(16)} outside an exchange`);
  }
  if (client.authMethod === undefined) {
    throw protocolError("re-authentication by a client that connected without a method");
  }
  if (method !== client.authMethod) {
    throw protocolError(
      `re-authentication with ${JSON.stringify(method)}, connected with ${client.authMethod}`,
    );
  }
  const p = packet.properties;
  const request: AuthRequest = {
    ...client.info!,
    authenticationMethod: method,
    ...(p.authenticationData === undefined ? {} : { authenticationData: p.authenticationData }),
    ...(p.userProperties === undefined ? {} : { userProperties: p.userProperties }),
  };
  const handle = client.broker.hooks.startAuthExchange(method, request, true);
  if (handle === undefined) {
    // The plugin that admitted it is no longer asked for its method.
    client.close(
      "refused",
      `re-authentication: no plugin handles ${method}`,
      ReasonCode.NOT_AUTHORIZED,
    );
    return;
  }
  const exchange = new Authentication(client, handle, undefined, (end) => {
    if ("fail" in end) {
      client.close("refused", `${method} re-authentication failed`, end.fail);
      return;
    }
    client.send(
      client.codec.auth(SUCCESS, { authenticationMethod: method, authenticationData: end.success }),
    );
    client.broker.logger.debug(`re-authenticated ${client.label}`);
  });
  // Traffic goes on while the plugin thinks (MQTT 5 §4.12.1): the read loop does not wait.
  void exchange.step(p.authenticationData);
}
