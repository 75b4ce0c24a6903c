import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { eventually } from "../helpers/broker.ts";
import { brokerOn, edge, record } from "./helpers.ts";

describe("a bridge to another instance of this broker", () => {
  test("out: local messages go to the remote with the prefixes applied", async () => {
    const remote = await brokerOn();
    const got = record(remote.broker, "#");
    const local = await edge({
      address: remote.url,
      topics: [{
        pattern: "s/#",
        direction: "out",
        qos: 1,
        "local-prefix": "edge/",
        "remote-prefix": "site/",
      }],
    });
    const state = record(local.broker, "$SYS/broker/connection/up/state");
    try {
      await eventually(() => state.at(-1)?.payload === "1", 10000, "the bridge to connect");
      local.broker.publish({ topic: "edge/s/1", payload: "a", qos: 1 });
      local.broker.publish({ topic: "other/s/1", payload: "no", qos: 1 });
      await eventually(() => got.length >= 1, 10000, "the message at the remote");
      assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [["site/s/1", "a", 1]]);
    } finally {
      await local.broker.close();
      await remote.broker.close();
    }
  });
});
