import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../../src/config/error.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { CERT, CERT2, KEY, problemsOf, withDir } from "./helpers.ts";

describe("resolveConfig defaults", () => {
  test("no configuration: one tcp listener `default` on 127.0.0.1:1883, and every default", async () => {
    for (const input of [undefined, null, {}, { listeners: null }]) {
      const config = await resolveConfig(input);
      assert.deepEqual(config, {
        listeners: [
          { name: "default", hostname: "127.0.0.1", port: 1883, type: "tcp", maxConnections: 0 },
        ],
        timeoutDisconnectDelayMs: 2000,
        auth: { allowAnonymous: true },
        topicCheck: { enabled: false, taboo: ["prohibited", "top-secret", "data/classified"] },
        sysIntervalMs: 20000,
        limits: {
          maxPacketSize: 1048576,
          maxInflightMessages: 20,
          maxQueuedMessages: 1000,
          maxQueuedBytes: 16777216,
          connectTimeoutMs: 10000,
          maxOutputBytes: 1048576,
          writeTimeoutMs: 30000,
          maxRetainedMessages: 100000,
          maxRetainedBytes: 67108864,
          maxSessions: 100000,
          maxSubscriptionsPerSession: 1000,
          persistentSessionExpiryMs: 7 * 24 * 3600 * 1000,
          maxSessionExpiryMs: 7 * 24 * 3600 * 1000,
          maxKeepaliveMs: 0,
          topicAliasMaximum: 10,
        },
        bridges: [],
        admin: { users: [], publicMetrics: false },
        logFormat: "text",
      });
    }
  });

  test("an empty listeners map starts no listener", async () => {
    assert.deepEqual((await resolveConfig({ listeners: {} })).listeners, []);
  });

  test("values given replace the defaults; seconds become milliseconds", async () => {
    const config = await resolveConfig({
      "timeout-disconnect-delay": 0,
      sys_interval: 0,
      auth: { plugins: ["auth.anonymous"], "allow-anonymous": "off" },
      "topic-check": { enabled: "on", plugins: ["topic_acl"], acl: { a: ["x/#"] }, taboo: [] },
      "max-packet-size": 2048,
      "max-inflight-messages": 5,
      "max-queued-messages": 0,
      "max-queued-bytes": 0,
      "connect-timeout": 1.5,
      "max-output-bytes": 4096,
      "write-timeout": 3,
      "max-retained-messages": 0,
      "max-retained-bytes": 1000,
      "max-sessions": 10,
      "persistent-session-expiry": 31536000,
      "max-subscriptions-per-session": 0,
      "max-session-expiry": 0,
      "max-keepalive": 60,
      "topic-alias-maximum": 0,
      "response-topic-prefix": "reply",
    });
    assert.equal(config.timeoutDisconnectDelayMs, 0);
    assert.equal(config.responseTopicPrefix, "reply");
    assert.equal(config.sysIntervalMs, 0);
    assert.deepEqual(config.auth, { plugins: ["auth_anonymous"], allowAnonymous: false });
    assert.deepEqual(config.topicCheck, {
      enabled: true,
      plugins: ["topic_acl"],
      acl: { a: ["x/#"] },
      taboo: [],
    });
    assert.deepEqual(config.limits, {
      maxPacketSize: 2048,
      maxInflightMessages: 5,
      maxQueuedMessages: 0,
      maxQueuedBytes: 0,
      connectTimeoutMs: 1500,
      maxOutputBytes: 4096,
      writeTimeoutMs: 3000,
      maxRetainedMessages: 0,
      maxRetainedBytes: 1000,
      maxSessions: 10,
      persistentSessionExpiryMs: 31536000000,
      maxSubscriptionsPerSession: 0,
      maxSessionExpiryMs: 0,
      maxKeepaliveMs: 60000,
      topicAliasMaximum: 0,
    });
  });

  test("publish-acl resolves to publishAcl", async () => {
    const config = await resolveConfig({ "topic-check": { "publish-acl": { bob: ["b/%u"] } } });
    assert.deepEqual(config.topicCheck.publishAcl, { bob: ["b/%u"] });
    assert.equal(config.topicCheck.acl, undefined);
  });

  test("the default taboo list is a fresh copy each time", async () => {
    const a = await resolveConfig({});
    a.topicCheck.taboo.push("x");
    assert.deepEqual((await resolveConfig({})).topicCheck.taboo, [
      "prohibited",
      "top-secret",
      "data/classified",
    ]);
  });
});

describe("resolveConfig listeners", () => {
  test("`default` alone is itself a listener; a missing bind takes 0.0.0.0 and the kind's port", async () => {
    const config = await resolveConfig({ listeners: { default: { "max-connections": 7 } } });
    assert.deepEqual(config.listeners, [
      { name: "default", hostname: "0.0.0.0", port: 1883, type: "tcp", maxConnections: 7 },
    ]);
  });

  test("other listeners inherit every key from `default`, which is then not a listener", async () => {
    const config = await resolveConfig({
      listeners: {
        default: { "max-connections": 50000, type: "ws", bind: "127.0.0.1:9000" },
        a: {},
        b: { bind: "127.0.0.1:1884", "max-connections": 1000, type: "tcp" },
      },
    });
    assert.deepEqual(config.listeners, [
      { name: "a", hostname: "127.0.0.1", port: 9000, type: "ws", maxConnections: 50000 },
      { name: "b", hostname: "127.0.0.1", port: 1884, type: "tcp", maxConnections: 1000 },
    ]);
  });

  test("a listener with no settings (null in YAML) takes everything from `default`", async () => {
    const config = await resolveConfig({
      listeners: { default: { "max-connections": 3 }, a: null, b: { bind: "[::1]:1883" } },
    });
    assert.deepEqual(config.listeners, [
      { name: "a", hostname: "0.0.0.0", port: 1883, type: "tcp", maxConnections: 3 },
      { name: "b", hostname: "::1", port: 1883, type: "tcp", maxConnections: 3 },
    ]);
  });

  test("without `default`, listeners take the built-in defaults", async () => {
    const config = await resolveConfig({ listeners: { only: { bind: "localhost:0" } } });
    assert.deepEqual(config.listeners, [
      { name: "only", hostname: "localhost", port: 0, type: "tcp", maxConnections: 0 },
    ]);
  });

  test("default binds by type and ssl: 1883, 8883, 8080, 8443", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "c.pem"), CERT);
      await writeFile(join(dir, "k.pem"), KEY);
      const config = await resolveConfig({
        listeners: {
          default: { certfile: "c.pem", keyfile: "k.pem" },
          tcp: {},
          tls: { ssl: "on" },
          ws: { type: "ws" },
          wss: { type: "ws", ssl: true },
        },
      }, { baseDir: dir });
      assert.deepEqual(
        config.listeners.map((l) => [l.name, l.hostname, l.port, l.type, l.tls !== undefined]),
        [
          ["tcp", "0.0.0.0", 1883, "tcp", false],
          ["tls", "0.0.0.0", 8883, "tcp", true],
          ["ws", "0.0.0.0", 8080, "ws", false],
          ["wss", "0.0.0.0", 8443, "ws", true],
        ],
      );
    });
  });

  test("IPv6 binds lose their brackets; port 0 is allowed, even twice", async () => {
    const config = await resolveConfig({
      listeners: { a: { bind: "[::1]:1883" }, b: { bind: "[::]:0" }, c: { bind: "[::]:0" } },
    });
    assert.deepEqual(config.listeners.map((l) => [l.hostname, l.port]), [
      ["::1", 1883],
      ["::", 0],
      ["::", 0],
    ]);
  });

  test("two listeners on the same host:port is an error, however the bind was set", async () => {
    assert.deepEqual(
      await problemsOf({
        listeners: {
          a: { bind: "127.0.0.1:1883" },
          b: { bind: "127.0.0.1:1883" },
          c: { bind: "[::1]:1884" },
          d: { bind: "[::1]:1884" },
        },
      }),
      [
        "listeners.b.bind: 127.0.0.1:1883 is already the address of listener a",
        "listeners.d.bind: [::1]:1884 is already the address of listener c",
      ],
    );
    assert.deepEqual(await problemsOf({ listeners: { a: {}, b: {} } }), [
      "listeners.b.bind: 0.0.0.0:1883 is already the address of listener a (the default bind; give this listener its own)",
    ]);
    assert.deepEqual(
      await problemsOf({ listeners: { default: { bind: "0.0.0.0:1900" }, a: {}, b: {} } }),
      [
        "listeners.b.bind: 0.0.0.0:1900 is already the address of listener a (inherited from default; give this listener its own)",
      ],
    );
  });

  test("a bad bind is reported once, not again as a clash", async () => {
    assert.deepEqual(
      await problemsOf({ listeners: { a: {}, b: { bind: "nope" } } }),
      ['listeners.b.bind: "nope" is not host:port'],
    );
    assert.deepEqual(
      await problemsOf({ listeners: { a: {}, b: { ssl: "maybe" } } }),
      ['listeners.b.ssl: "maybe" is not on/off (true/false)'],
    );
  });
});

describe("resolveConfig TLS", () => {
  test("ssl on requires certfile and keyfile, naming the listener and the key", async () => {
    assert.deepEqual(await problemsOf({ listeners: { secure: { ssl: "on" } } }), [
      "listeners.secure: ssl is on but certfile is not given",
      "listeners.secure: ssl is on but keyfile is not given",
    ]);
    assert.deepEqual(
      await problemsOf({ listeners: { secure: { ssl: true, certfile: "/c.pem" }, plain: {} } }),
      ["listeners.secure: ssl is on but keyfile is not given"],
    );
  });

  test("ssl off ignores TLS keys and reads no file", async () => {
    const config = await resolveConfig({
      listeners: { default: { ssl: "off", certfile: "/nonexistent/c.pem", keyfile: "/nope" } },
    });
    assert.equal(config.listeners[0].tls, undefined);
  });

  test("certfile and keyfile are read relative to baseDir; cafile, capath and cadata make ca", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "server.crt"), CERT);
      await writeFile(join(dir, "server.key"), KEY);
      await writeFile(join(dir, "ca.crt"), `junk before\n${CERT}`);
      await mkdir(join(dir, "ca"));
      await writeFile(join(dir, "ca", "b.pem"), CERT2);
      await writeFile(join(dir, "ca", "a.pem"), CERT);
      await writeFile(join(dir, "ca", "README"), "not a certificate");
      await mkdir(join(dir, "ca", "sub"));
      await symlink(join(dir, "ca", "b.pem"), join(dir, "ca", "1a2b3c4d.0"));
      await symlink(join(dir, "gone.pem"), join(dir, "ca", "dangling.0"));
      const config = await resolveConfig({
        listeners: {
          default: {
            bind: "127.0.0.1:8883",
            ssl: "on",
            certfile: "server.crt",
            keyfile: "server.key",
            cafile: "ca.crt",
            capath: "ca",
            cadata: CERT2,
          },
        },
      }, { baseDir: dir });
      const { tls } = config.listeners[0];
      assert.ok(tls);
      assert.equal(tls.cert, CERT);
      assert.equal(tls.key, KEY);
      // Each certificate once, in the order found: cafile, then capath's files by name, cadata.
      assert.equal(tls.ca, CERT + CERT2);
    });
  });

  test("without any CA setting there is no ca", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "c.pem"), CERT);
      await writeFile(join(dir, "k.pem"), KEY);
      const config = await resolveConfig(
        { listeners: { default: { ssl: "on", certfile: "c.pem", keyfile: "k.pem" } } },
        { baseDir: dir },
      );
      assert.deepEqual(config.listeners[0].tls, { cert: CERT, key: KEY });
    });
  });

  test("unreadable files are errors at start-up, naming the key and the path", async () => {
    await withDir(async (dir) => {
      await mkdir(join(dir, "emptyca"));
      await mkdir(join(dir, "folder"));
      const found = await problemsOf({
        listeners: {
          default: {
            ssl: "on",
            certfile: "missing.crt",
            keyfile: "folder",
            cafile: "/nonexistent/ca.crt",
          },
          a: { bind: "0.0.0.0:1", capath: "emptyca" },
          b: { bind: "0.0.0.0:2", capath: "nofolder" },
        },
        auth: { "password-file": "passwd" },
      }, dir);
      assert.deepEqual(found, [
        `listeners.default.certfile: cannot read ${
          join(dir, "missing.crt")
        }: no such file (ENOENT)`,
        `listeners.default.keyfile: cannot read ${join(dir, "folder")}: it is a folder (EISDIR)`,
        "listeners.default.cafile: cannot read /nonexistent/ca.crt: no such file (ENOENT)",
        `listeners.a.capath: ${join(dir, "emptyca")} holds no PEM certificate`,
        `listeners.b.capath: cannot read folder ${join(dir, "nofolder")}: no such file (ENOENT)`,
        `auth.password-file: cannot read ${join(dir, "passwd")}: no such file (ENOENT)`,
      ]);
    });
  });

  test("files that do not hold what they should are errors", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "key-as-cert.pem"), KEY);
      await writeFile(join(dir, "cert-as-key.pem"), CERT);
      await writeFile(
        join(dir, "enc.key"),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n",
      );
      await writeFile(join(dir, "c.pem"), CERT);
      const found = await problemsOf({
        listeners: {
          a: {
            bind: "0.0.0.0:1",
            ssl: "on",
            certfile: "key-as-cert.pem",
            keyfile: "cert-as-key.pem",
            cafile: "cert-as-key.pem",
            cadata: "certificate data",
          },
          b: { bind: "0.0.0.0:2", ssl: "on", certfile: "c.pem", keyfile: "enc.key" },
        },
      }, dir);
      assert.deepEqual(found, [
        `listeners.a.certfile: ${join(dir, "key-as-cert.pem")} holds no PEM certificate`,
        `listeners.a.keyfile: ${join(dir, "cert-as-key.pem")} holds no PEM private key`,
        "listeners.a.cadata: holds no PEM certificate",
        `listeners.b.keyfile: ${
          join(dir, "enc.key")
        } is encrypted and there is no passphrase setting; decrypt it`,
      ]);
    });
  });

  test("a file inherited from default is read once and reported once, under default", async () => {
    const found = await problemsOf({
      listeners: {
        default: { ssl: "on", certfile: "/nonexistent/c.pem", keyfile: "/nonexistent/k.pem" },
        a: { bind: "0.0.0.0:1" },
        b: { bind: "0.0.0.0:2" },
      },
    });
    assert.deepEqual(found, [
      "listeners.default.certfile: cannot read /nonexistent/c.pem: no such file (ENOENT)",
      "listeners.default.keyfile: cannot read /nonexistent/k.pem: no such file (ENOENT)",
    ]);
  });

  test("a readable password file resolves to its absolute path", async () => {
    await withDir(async (dir) => {
      await writeFile(join(dir, "passwd"), "alice:x\n");
      const config = await resolveConfig({ auth: { "password-file": "passwd" } }, { baseDir: dir });
      assert.equal(config.auth.passwordFile, join(dir, "passwd"));
    });
  });
});

describe("resolveConfig plugins", () => {
  test("built-ins are normalised; relative module paths become file URLs against baseDir", async () => {
    const object = { name: "mine" };
    const config = await resolveConfig({
      plugins: ["auth.anonymous", "./p/audit.ts", "/abs/x.js", "https://e.com/p.ts", object],
    }, { baseDir: "/etc/broker" });
    assert.deepEqual(config.plugins, [
      "auth_anonymous",
      pathToFileURL("/etc/broker/p/audit.ts").href,
      pathToFileURL("/abs/x.js").href,
      "https://e.com/p.ts",
      object,
    ]);
    assert.equal(config.plugins?.[4], object);
  });

  test("absent plugins stay undefined (the default set); an empty list stays empty", async () => {
    assert.equal((await resolveConfig({})).plugins, undefined);
    assert.deepEqual((await resolveConfig({ plugins: [] })).plugins, []);
  });
});

describe("ConfigError", () => {
  test("lists every problem, validation and files together, one per line", async () => {
    let error: unknown;
    try {
      await resolveConfig({
        listeners: {
          default: { "max-conections": 5, bind: "127.0.0.1:notaport" },
          tls: { ssl: "maybe" },
          secure: { bind: "0.0.0.0:8883", ssl: "on" },
        },
        auth: { "password-file": "/nonexistent/passwd" },
        plugins: ["nope"],
      });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, [
      "listeners.default.max-conections: unknown key (did you mean max-connections?)",
      'listeners.default.bind: "127.0.0.1:notaport" is not host:port',
      'listeners.tls.ssl: "maybe" is not on/off (true/false)',
      'plugins[0]: "nope" is not a built-in plugin or a module path or URL (built-ins: auth_anonymous, auth_file, topic_acl, topic_taboo, broker_sys; write a module path as ./nope.ts)',
      "listeners.secure: ssl is on but certfile is not given",
      "listeners.secure: ssl is on but keyfile is not given",
      "auth.password-file: cannot read /nonexistent/passwd: no such file (ENOENT)",
    ]);
    assert.equal(
      error.message,
      `invalid configuration (7 problems):\n${error.problems.map((p) => `  ${p}`).join("\n")}`,
    );
    assert.equal(error.name, "ConfigError");
  });

  test("one problem is singular", () => {
    assert.equal(new ConfigError(["x: y"]).message, "invalid configuration (1 problem):\n  x: y");
  });
});
