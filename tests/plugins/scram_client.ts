/**
 * The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), written apart from the server's code so
 * that the two check each other; it assumes a NFKC-clean ASCII password.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One client exchange: {@link ScramClient.first}, then {@link ScramClient.final}. */
export class ScramClient {
  readonly #password: string;
  readonly #header: string;
  readonly #bare: string;
  #authMessage = "";
  #saltedPassword: Uint8Array = new Uint8Array();

  /** `header` is the GS2 header (`n,,` for no channel binding); `nonce` the client's nonce. */
  constructor(
    username: string,
    password: string,
    nonce = randomBytes(12).toString("base64"),
    header = "n,,",
  ) {
    this.#password = password;
    this.#header = header;
    const escaped = username.replaceAll("=", "=3D").replaceAll(",", "=2C");
    this.#bare = `n=${escaped},r=${nonce}`;
  }

  /** The client-first message. */
  first(): Uint8Array {
    return encoder.encode(this.#header + this.#bare);
  }

  /**
   * The client-final message answering `serverFirst` (asserted well-formed); `edit` may change
   * the nonce it echoes, to test the server's check.
   */
  final(serverFirst: Uint8Array, edit: (nonce: string) => string = (n) => n): Uint8Array {
    const text = decoder.decode(serverFirst);
    const m = /^r=([^,]+),s=([^,]+),i=([0-9]+)$/.exec(text);
    assert.ok(m, text);
    this.#saltedPassword = pbkdf2Sync(
      this.#password,
      Buffer.from(m[2], "base64"),
      Number(m[3]),
      32,
      "sha256",
    );
    const withoutProof = `c=${Buffer.from(this.#header).toString("base64")},r=${edit(m[1])}`;
    this.#authMessage = `${this.#bare},${text},${withoutProof}`;
    const clientKey = createHmac("sha256", this.#saltedPassword).update("Client Key").digest();
    const storedKey = createHash("sha256").update(clientKey).digest();
    const signature = createHmac("sha256", storedKey).update(this.#authMessage).digest();
    const proof = clientKey.map((b, i) => b ^ signature[i]);
    return encoder.encode(`${withoutProof},p=${Buffer.from(proof).toString("base64")}`);
  }

  /** The server-final message a genuine server sends after {@link ScramClient.final}. */
  serverSignature(): string {
    const serverKey = createHmac("sha256", this.#saltedPassword).update("Server Key").digest();
    const signature = createHmac("sha256", serverKey).update(this.#authMessage).digest();
    return `v=${signature.toString("base64")}`;
  }
}
