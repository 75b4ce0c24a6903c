import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, RawClient, startBroker, withBroker } from "../helpers/broker.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import type { Plugin } from "../../src/plugins/types.ts";

const trustAll: Plugin = { name: "trust_all", authenticate: () => true };

describe("log lines", () => {
  test("control characters a client chose cannot forge a log line", () =>
    withBroker({ plugins: [trustAll] }, async ({ raw, logger }) => {
      const owner = await raw();
      await owner.handshake({ clientId: "evil\nINFO forged", clean: false, username: "a\r\nb" });
      owner.send({
        cmd: "publish",
        topic: "$SYS/x\u001b[2Jy\u2028z",
        payload: "x",
        qos: 1,
        messageId: 1,
      });
      await owner.next("puback");
      const other = await raw();
      await other.handshake({ clientId: "evil\nINFO forged", clean: false, username: "c\u0085d" });
      await other.waitClosed();
      await eventually(
        () => logger.lines.some((l) => l.includes("refused")),
        5000,
        "the refusal to be logged",
      );
      for (const line of logger.lines) {
        // deno-lint-ignore no-control-regex
        assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, line);
      }
      const text = logger.lines.join("\n");
      assert.match(text, /connected evil\\nINFO forged from/);
      assert.match(text, /publishing to \$SYS\/x\\u001b\[2Jy\\u2028z/);
      assert.match(text, /belongs to "a\\r\\nb", not "c\\u0085d"/);
    }));

  test("debug lines are not built for a logger that drops them", async () => {
    assert.equal(createLogger("info").debugEnabled, false);
    assert.equal(createLogger("debug").debugEnabled, true);
    const debugged: string[] = [];
    const logger: Logger = {
      debug: (m) => debugged.push(m),
      info: () => {},
      warn: () => {},
      error: () => {},
      debugEnabled: false,
    };
    const { broker, port } = await startBroker({}, logger);
    try {
      const client = await RawClient.connect(port);
      await client.handshake({ clientId: "quiet" });
      client.send({ cmd: "disconnect" });
      await client.waitClosed();
      await eventually(() => broker.clients.length === 0, 5000, "the client to leave");
      assert.deepEqual(debugged, []);
    } finally {
      await broker.close();
    }
  });
});
