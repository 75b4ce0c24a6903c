/**
 * CONNECT: protocol level, client identifier, authentication, then the broker attaches the
 * session (taking over any connection with the same client id).
 *
 * @module
 */
import { encodeConnack } from "../../protocol/encode.ts";
import type { ConnectPacket } from "../../protocol/packets.ts";
import type { ClientInfo } from "../../plugins/types.ts";
import type { Client } from "../client.ts";

/** CONNACK return codes of MQTT 3.1.1. */
const IDENTIFIER_REJECTED = 2;
const BAD_USER_NAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function refuse(client: Client, code: number, why: string): void {
  client.send(encodeConnack(code, false));
  client.broker.logger.info(`refused ${client.label}: ${why}`);
  client.close("refused");
}

/** Handles CONNECT, the first packet of every connection. */
export function handleConnect(client: Client, packet: ConnectPacket): void | Promise<void> {
  if (packet.returnCode !== undefined) {
    return refuse(
      client,
      packet.returnCode,
      `unsupported protocol ${packet.protocolName} level ${packet.protocolVersion}`,
    );
  }
  let clientId = packet.clientId;
  if (clientId === "") {
    if (!packet.cleanSession || packet.protocolVersion === 3) {
      return refuse(client, IDENTIFIER_REJECTED, "empty client id without clean session");
    }
    clientId = client.broker.newClientId();
  }
  const info: ClientInfo = {
    clientId,
    username: packet.username,
    remoteAddr: client.conn.remoteAddr,
    listener: client.listener,
    cleanSession: packet.cleanSession,
    protocolVersion: packet.protocolVersion,
  };
  const verdict = client.broker.hooks.authenticate({ ...info, password: packet.password });
  if (typeof verdict === "boolean") return admit(client, packet, info, verdict);
  return verdict.then((allowed) => admit(client, packet, info, allowed));
}

function admit(client: Client, packet: ConnectPacket, info: ClientInfo, allowed: boolean): void {
  if (client.closed) return;
  if (!allowed) {
    const code = packet.username === undefined ? NOT_AUTHORIZED : BAD_USER_NAME_OR_PASSWORD;
    return refuse(client, code, `authentication failed for ${info.clientId}`);
  }
  client.broker.attach(client, info, packet);
}
