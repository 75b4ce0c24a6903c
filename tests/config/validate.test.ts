import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/validate.ts";

const problems = (input: unknown) => validateConfig(input).problems;

describe("validateConfig", () => {
  test("an empty, null or absent configuration is valid", () => {
    assert.deepEqual(problems(undefined), []);
    assert.deepEqual(problems(null), []);
    assert.deepEqual(problems({}), []);
  });

  test("the seed document's example is valid (with its capath typo as cadata)", () => {
    const seed = {
      listeners: {
        default: { "max-connections": 50000, type: "tcp" },
        "my-tcp-1": { bind: "127.0.0.1:1883" },
        "my-tcp-2": { bind: "1.2.3.4:1884", "max-connections": 1000 },
        "my-tcp-ssl-1": {
          bind: "127.0.0.1:8885",
          ssl: "on",
          cafile: "/some/cafile",
          capath: "/some/folder",
          cadata: "certificate data",
          certfile: "/some/certfile",
          keyfile: "/some/key",
        },
        "my-ws-1": { bind: "0.0.0.0:8080", type: "ws" },
      },
      "timeout-disconnect-delay": 2,
      auth: { plugins: ["auth.anonymous"], "allow-anonymous": true, "password-file": "/x" },
      "topic-check": {
        enabled: true,
        plugins: ["topic_acl"],
        acl: { username1: ["repositories/+/master", "calendar/#", "data/memes"], anonymous: [] },
      },
    };
    const { config, problems } = validateConfig(seed);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.auth.plugins, ["auth_anonymous"]);
  });

  test("unknown keys are errors with a did-you-mean, at every level", () => {
    assert.deepEqual(
      problems({
        listeners: { default: { "max-conections": 10 } },
        "sys-interval": 5,
        auth: { allow_anonymous: true },
        "topic-check": { enable: true },
        "max-packet-sise": 10,
      }),
      [
        "sys-interval: unknown key (did you mean sys_interval?)",
        "max-packet-sise: unknown key (did you mean max-packet-size?)",
        "listeners.default.max-conections: unknown key (did you mean max-connections?)",
        "auth.allow_anonymous: unknown key (did you mean allow-anonymous?)",
        "topic-check.enable: unknown key (did you mean enabled?)",
      ],
    );
  });

  test("an unknown key with no close match lists the known keys", () => {
    assert.deepEqual(problems({ auth: { wibble: 1 } }), [
      "auth.wibble: unknown key (expected one of: plugins, allow-anonymous, password-file)",
    ]);
  });

  test("listener values: bind, max-connections, type, ssl, paths", () => {
    assert.deepEqual(
      problems({
        listeners: {
          default: {
            bind: "127.0.0.1:notaport",
            "max-connections": -1,
            type: "udp",
            ssl: "maybe",
            certfile: 5,
            keyfile: "",
            capath: null,
            cadata: ["x"],
          },
        },
      }),
      [
        'listeners.default.bind: "127.0.0.1:notaport" is not host:port',
        "listeners.default.max-connections: -1 is not an integer >= 0",
        'listeners.default.type: "udp" is not tcp, ws or http',
        'listeners.default.ssl: "maybe" is not on/off (true/false)',
        "listeners.default.capath: no value (expected a folder path)",
        "listeners.default.certfile: 5 is not a file path",
        'listeners.default.keyfile: "" is not a file path',
        'listeners.default.cadata: ["x"] is not PEM certificate text',
      ],
    );
  });

  test("bind problems carry hints", () => {
    assert.deepEqual(
      problems({
        listeners: {
          a: { bind: "::1:1883" },
          b: { bind: 1883 },
          c: { bind: "1.2.3.4:70000" },
          d: { bind: "[::1]:1883" },
        },
      }),
      [
        'listeners.a.bind: "::1:1883" is not host:port (write IPv6 addresses in brackets, as [::1]:1883)',
        "listeners.b.bind: 1883 is not host:port (write the host too, as 0.0.0.0:1883)",
        'listeners.c.bind: "1.2.3.4:70000" is not host:port (the port must be 0 to 65535)',
      ],
    );
  });

  test("ssl takes on/off in any case and booleans; nothing else", () => {
    for (const [value, expected] of [["on", true], ["off", false], ["ON", true], [true, true]]) {
      const { config, problems } = validateConfig({ listeners: { default: { ssl: value } } });
      assert.deepEqual(problems, []);
      assert.equal(config.listeners?.[0][1].ssl, expected);
    }
    for (const value of ["yes", "true", 1, null]) {
      assert.equal(problems({ listeners: { default: { ssl: value } } }).length, 1, String(value));
    }
    assert.deepEqual(problems({ listeners: { tls: { ssl: "maybe" } } }), [
      'listeners.tls.ssl: "maybe" is not on/off (true/false)',
    ]);
  });

  test("numbers written as strings are errors, not coerced", () => {
    assert.deepEqual(
      problems({
        listeners: { default: { "max-connections": "50" } },
        "timeout-disconnect-delay": "2",
        sys_interval: "20",
        "max-packet-size": "1024",
      }),
      [
        'listeners.default.max-connections: "50" is not an integer >= 0 (it is a string: remove the quotes)',
        'timeout-disconnect-delay: "2" is not a number of seconds from 0 to 2147483 (it is a string: remove the quotes)',
        'sys_interval: "20" is not a number of seconds from 0 to 2147483 (it is a string: remove the quotes)',
        'max-packet-size: "1024" is not an integer from 2 to 268435455 (it is a string: remove the quotes)',
      ],
    );
  });

  test("sections of the wrong shape", () => {
    assert.deepEqual(problems([1, 2]), ["configuration: [1,2] is not a map of configuration keys"]);
    assert.deepEqual(
      problems({ listeners: ["a"], auth: "on", "topic-check": 1, plugins: "auth_file" }),
      [
        'listeners: ["a"] is not a map of named listeners',
        'auth: "on" is not a map of auth settings',
        "topic-check: 1 is not a map of topic-check settings",
        'plugins: "auth_file" is not a list of plugin names, module paths or URLs',
      ],
    );
    assert.deepEqual(problems({ listeners: { a: "x" } }), [
      'listeners.a: "x" is not a map of listener settings',
    ]);
  });

  test("null sections count as empty (a YAML section with every key commented out)", () => {
    assert.deepEqual(problems({ auth: null, "topic-check": null, listeners: { a: null } }), []);
  });

  test("auth values", () => {
    assert.deepEqual(
      problems({ auth: { plugins: ["auth_file", ""], "allow-anonymous": 1, "password-file": 3 } }),
      [
        'auth.plugins[1]: "" is not a plugin name',
        "auth.allow-anonymous: 1 is not on/off (true/false)",
        "auth.password-file: 3 is not a file path",
      ],
    );
  });

  test("auth.plugins and topic-check.plugins accept any name and normalise built-in spellings", () => {
    const { config, problems } = validateConfig({
      auth: { plugins: ["auth.file", "my_ldap"] },
      "topic-check": { plugins: ["topic.acl", "some-third-party"] },
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(config.auth.plugins, ["auth_file", "my_ldap"]);
    assert.deepEqual(config.topicCheck.plugins, ["topic_acl", "some-third-party"]);
  });

  test("topic-check: acl filters are checked, %u and %c allowed inside a level", () => {
    const { config, problems: found } = validateConfig({
      "topic-check": {
        enabled: "on",
        acl: {
          alice: ["users/%u/#", "clients/%c", "a/%u-%c/+", "a+/b", "#/x"],
          "a.b": "x",
          anonymous: null,
          bob: [],
        },
        "publish-acl": { alice: [""], carol: [3] },
        taboo: ["secret/#", "bad/#/x"],
      },
    });
    assert.deepEqual(found, [
      `topic-check.acl.alice[3]: "a+/b" is not a topic filter ('+' must be alone in its level)`,
      `topic-check.acl.alice[4]: "#/x" is not a topic filter ('#' must be the last level and alone in it)`,
      'topic-check.acl["a.b"]: "x" is not a list of topic filters',
      "topic-check.acl.anonymous: no value (expected a list of topic filters; [] allows none)",
      'topic-check.publish-acl.alice[0]: "" is not a topic filter',
      "topic-check.publish-acl.carol[0]: 3 is not a topic filter",
      `topic-check.taboo[1]: "bad/#/x" is not a topic or topic filter ('#' must be the last level and alone in it)`,
    ]);
    assert.equal(config.topicCheck.enabled, true);
    assert.deepEqual(config.topicCheck.acl, {
      alice: ["users/%u/#", "clients/%c", "a/%u-%c/+"],
      bob: [],
    });
    assert.deepEqual(config.topicCheck.taboo, ["secret/#"]);
    assert.deepEqual(problems({ "topic-check": { acl: ["a"] } }), [
      'topic-check.acl: ["a"] is not a map of user name to a list of topic filters',
    ]);
  });

  test("plugins: built-ins (either spelling), paths, URLs and plugin objects", () => {
    const object = { name: "mine", authenticate: () => true };
    const { config, problems: found } = validateConfig({
      plugins: [
        "auth_anonymous",
        "auth.file",
        "topic.taboo",
        "broker_sys",
        "./plugins/audit.ts",
        "../x.js",
        "/abs/plugin.mjs",
        "plugin.ts",
        "https://example.com/p.ts",
        "file:///p.ts",
        "npm:some-plugin",
        object,
      ],
    });
    assert.deepEqual(found, []);
    assert.equal(config.plugins?.length, 12);
    assert.deepEqual(config.plugins?.slice(0, 4), [
      "auth_anonymous",
      "auth_file",
      "topic_taboo",
      "broker_sys",
    ]);
    assert.equal(config.plugins?.[11], object, "plugin objects are kept as they are");
  });

  test("plugins: a name that is neither built-in nor a path or URL lists the built-ins", () => {
    assert.deepEqual(problems({ plugins: ["auth_anonymos", "foo", "", {}, { name: "" }, 5] }), [
      'plugins[0]: "auth_anonymos" is not a built-in plugin or a module path or URL (did you mean auth_anonymous? built-ins: auth_anonymous, auth_file, topic_acl, topic_taboo, broker_sys)',
      'plugins[1]: "foo" is not a built-in plugin or a module path or URL (built-ins: auth_anonymous, auth_file, topic_acl, topic_taboo, broker_sys; write a module path as ./foo.ts)',
      'plugins[2]: "" is not a plugin name, a module path or URL, or a plugin object with a string name',
      "plugins[3]: {} is not a plugin name, a module path or URL, or a plugin object with a string name",
      'plugins[4]: {"name":""} is not a plugin name, a module path or URL, or a plugin object with a string name',
      "plugins[5]: 5 is not a plugin name, a module path or URL, or a plugin object with a string name",
    ]);
  });

  test("limits: ranges and types", () => {
    assert.deepEqual(
      problems({
        "max-packet-size": 268435456,
        "max-inflight-messages": 0,
        "max-queued-messages": 1.5,
        "max-queued-bytes": -1,
        "connect-timeout": 0,
        "max-output-bytes": 0,
        "write-timeout": "30",
        "max-retained-messages": -1,
        "max-retained-bytes": 1.5,
        "max-sessions": "100",
        "persistent-session-expiry": 4294967296,
        "max-subscriptions-per-session": null,
        "max-session-expiry": -1,
        "max-keepalive": 65536,
        "topic-alias-maximum": 1.5,
      }),
      [
        "max-packet-size: 268435456 is not an integer from 2 to 268435455",
        "max-inflight-messages: 0 is not an integer from 1 to 65535",
        "max-queued-messages: 1.5 is not an integer >= 0",
        "max-queued-bytes: -1 is not an integer >= 0",
        "connect-timeout: 0 is not a number of seconds > 0 and <= 2147483",
        "max-output-bytes: 0 is not an integer >= 1",
        'write-timeout: "30" is not a number of seconds > 0 and <= 2147483 (it is a string: remove the quotes)',
        "max-retained-messages: -1 is not an integer >= 0",
        "max-retained-bytes: 1.5 is not an integer >= 0",
        'max-sessions: "100" is not an integer >= 0 (it is a string: remove the quotes)',
        "persistent-session-expiry: 4294967296 is not a number of seconds from 0 to 4294967295",
        "max-session-expiry: -1 is not a number of seconds from 0 to 4294967295",
        "max-keepalive: 65536 is not an integer from 0 to 65535",
        "topic-alias-maximum: 1.5 is not an integer from 0 to 65535",
        "max-subscriptions-per-session: no value (expected an integer >= 0)",
      ],
    );
  });

  test("response-topic-prefix: a topic name clients can publish to", () => {
    assert.deepEqual(validateConfig({ "response-topic-prefix": "reply/to" }).problems, []);
    assert.deepEqual(
      ["", "a/+", "$SYS/x", 5].map((prefix) =>
        validateConfig({ "response-topic-prefix": prefix }).problems
      ),
      [
        ['response-topic-prefix: "" is not a topic name such as reply'],
        ['response-topic-prefix: "a/+" is not a topic name such as reply (topic name contains a wildcard)'],
        ['response-topic-prefix: "$SYS/x" is not a topic name such as reply (it must not start with $)'],
        ["response-topic-prefix: 5 is not a topic name such as reply"],
      ],
    );
  });

  test("seconds: fractions allowed, negatives, infinities and overlong waits refused", () => {
    const { config } = validateConfig({ "timeout-disconnect-delay": 0.5, sys_interval: 0 });
    assert.equal(config.timeoutDisconnectDelayMs, 500);
    assert.equal(config.sysIntervalMs, 0);
    assert.equal(validateConfig({ sys_interval: 0.0001 }).config.sysIntervalMs, 1);
    assert.deepEqual(
      problems({ "timeout-disconnect-delay": -1, sys_interval: Infinity }),
      [
        "timeout-disconnect-delay: -1 is not a number of seconds from 0 to 2147483",
        "sys_interval: Infinity is not a number of seconds from 0 to 2147483",
      ],
    );
    assert.equal(problems({ sys_interval: 2147484 }).length, 1);
  });

  test("odd keys are quoted in paths; long values are cut short", () => {
    assert.deepEqual(problems({ listeners: { "my listener": { type: "x".repeat(100) } } }), [
      `listeners["my listener"].type: "${"x".repeat(56)}... is not tcp, ws or http`,
    ]);
  });

  test("every problem is reported at once", () => {
    const found = problems({
      listeners: {
        default: { "max-conections": 1, bind: "127.0.0.1:notaport" },
        tls: { ssl: "maybe" },
      },
      auth: { "allow-anonymous": "maybe" },
      sys_interval: -5,
      plugins: ["nope"],
      bogus: true,
    });
    assert.equal(found.length, 7, found.join("\n"));
  });
});
