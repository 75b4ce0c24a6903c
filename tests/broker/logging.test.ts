import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, withBroker } from "../helpers/broker.ts";
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
});
