import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../src/config/validate.ts";
import { resolveConfig } from "../../src/config/resolve.ts";

const problems = (bridges: unknown) => validateConfig({ bridges }).problems;
const topics = [{ pattern: "a/#" }];

describe("bridges configuration", () => {
  test("the issue's example is valid", () => {
    assert.deepEqual(
      problems({
        cloud: {
          address: ["mqtts://cloud.example.com:8883", "ws://b.example.com/mqtt"],
          protocol: 5,
          "client-id": "edge-1",
          username: "edge-1",
          password: "x",
          "clean-start": false,
          keepalive: 60,
          topics: [
            {
              pattern: "sensors/#",
              direction: "out",
              qos: 1,
              "local-prefix": "",
              "remote-prefix": "site-a/",
            },
            { pattern: "commands/#", direction: "in", qos: 2, "remote-prefix": "site-a/" },
          ],
          reconnect: { min: 5, max: 30 },
          notifications: true,
          "max-queued-messages": 100000,
        },
      }),
      [],
    );
  });

  test("each problem names its key", () => {
    const lines = problems({
      cloud: {
        adress: "x",
        address: ["http://h", "mqtt://u:p@h", 7],
        protocol: 3,
        topics: [
          {
            pattern: "a/#/b",
            direction: "up",
            qos: 3,
            "local-prefix": "x",
            "remote-prefix": "a/+/",
          },
          { direction: "in" },
          { pattern: "ok", extra: 1 },
        ],
        reconnect: { min: 10, max: 2 },
        keepalive: -1,
        password: "p",
        "password-file": "f",
        certfile: "c",
      },
    });
    const has = (start: string) =>
      assert.ok(lines.some((l) => l.startsWith(start)), `${start} in\n${lines.join("\n")}`);
    has("bridges.cloud.adress: unknown key (did you mean address?)");
    has('bridges.cloud.address[0]: "http://h" is not a broker address (the scheme');
    has('bridges.cloud.address[1]: "mqtt://u:p@h" is not a broker address (put credentials');
    has("bridges.cloud.address[2]: 7 is not");
    has("bridges.cloud.protocol: 3 is not 5");
    has('bridges.cloud.topics[0].pattern: "a/#/b" is not a topic filter');
    has('bridges.cloud.topics[0].direction: "up" is not in, out or both');
    has("bridges.cloud.topics[0].qos: 3 is not an integer from 0 to 2");
    has(
      'bridges.cloud.topics[0].local-prefix: "x" is not a topic prefix ending with / (or empty) (end it with /',
    );
    has('bridges.cloud.topics[0].remote-prefix: "a/+/" is not a topic prefix');
    has("bridges.cloud.topics[1]: pattern is not given");
    has("bridges.cloud.topics[2].extra: unknown key");
    has("bridges.cloud.reconnect: min (10) is more than max (2)");
    has("bridges.cloud.keepalive: -1 is not");
    has("bridges.cloud: give password or password-file, not both");
    has("bridges.cloud: certfile and keyfile go together");
  });

  test("address and topics are required; a bridge name is a plain word", () => {
    const lines = problems({ "a/b": {} });
    assert.ok(lines.includes('bridges["a/b"]: address is not given (e.g. mqtt://host:1883)'));
    assert.ok(lines.includes('bridges["a/b"]: topics is not given (a list of topic patterns)'));
    assert.ok(lines.some((l) => l.includes("a bridge name may hold only")));
    assert.deepEqual(problems({ b: { address: "mqtt://h", topics: [] } }), [
      "bridges.b.topics: [] is not a non-empty list of topics",
    ]);
  });

  test("defaults are applied and the password file is read", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bridge-config-"));
    try {
      await writeFile(join(dir, "pass"), "s3cret\nignored\n");
      const config = await resolveConfig({
        bridges: { up: { address: "mqtt://127.0.0.1:1", "password-file": "pass", topics } },
      }, { baseDir: dir });
      assert.deepEqual(config.bridges, [{
        name: "up",
        addresses: ["mqtt://127.0.0.1:1"],
        protocol: 5,
        clientId: "bridge-up",
        password: "s3cret",
        cleanStart: false,
        keepalive: 60,
        topics: [{ pattern: "a/#", direction: "out", qos: 1, localPrefix: "", remotePrefix: "" }],
        reconnectMinMs: 5000,
        reconnectMaxMs: 30000,
        notifications: true,
        maxQueuedMessages: 10000,
      }]);
      await assert.rejects(
        resolveConfig({ bridges: { up: { address: "mqtt://h", cafile: "nope", topics } } }, {
          baseDir: dir,
        }),
        /bridges\.up\.cafile: .*no such file/,
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
