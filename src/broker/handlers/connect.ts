/**
 * CONNECT: protocol level, client identifier, authentication, then the broker attaches the
 * session (taking over any connection with the same client id, if it may).
 *
 * @module
 */
import { encodeConnack } from "../../protocol/encode.ts";
import { ConnackCode, type ConnectPacket } from "../../protocol/packets.ts";
import type { ClientInfo } from "../../plugins/types.ts";
import type { Client } from "../client.ts";

const { IDENTIFIER_REJECTED, BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED } = ConnackCode;

function refuse(client: Client, code: number, why: string): void {
  client.send(encodeConnack(code, false));
  client.broker.logger.info(`refused ${client.label}: ${why}`);
  client.close("refused");
}

/** Handles CONNECT, the first packet of every connection. */
export function handleConnect(client: Client, packet: ConnectPacket): void | Promise<void> {
  client.connectSeq = client.broker.connectSequence();
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
    // An empty user name is anonymous to the plugins, so its refusal says "not authorized" too.
    const code = packet.username ? BAD_USER_NAME_OR_PASSWORD : NOT_AUTHORIZED;
    return refuse(client, code, `authentication failed for ${info.clientId}`);
  }
  const refusal = client.broker.attach(client, info, packet);
  if (refusal) refuse(client, refusal.code, refusal.why);
}
