import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type mqtt from "mqtt";
import { ConfigError, createBroker } from "../../mod.ts";
import { collect, connect, eventually, RawClient, withBroker } from "../helpers/broker.ts";

// Made with `openssl passwd -6/-5 -salt ...` and `mosquitto_passwd -b`, so the test needs neither.
const PASSWORD_FILE = `# users for the end-to-end auth tests

six:$6$e2esalt6$ssXXvfM/0yYyJZACl13jyE/BSl/DJhiNWqU49VUSYuo6d8P3tU8id.ExhEvo9daDvATvzvCtJjFrUb8/vd1XZ0
five:$5$e2esalt5$fJAh6or5XWmu40CZUk/EusevW9Yh4lbjzHL3.u87g79
seven:$7$101$IJQ/St4GZMGu8QXI$GwfFgE+wYbZGxYSkDRsTaYV/4af5/uw+bp4gE2L2yhWV/2Xc1LEL9TuwDwTim4SaWApjs4J3EGPed3+hmcDbWA==
`;

let dir = "";
let passwordFile = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "broker-auth-"));
  passwordFile = join(dir, "passwd");
  writeFileSync(passwordFile, PASSWORD_FILE);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `ms`: how long the CONNACK may take (a flood of checks on a loaded machine takes long). */
async function connackCode(
  port: number,
  fields: Record<string, unknown>,
  ms?: number,
): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    const code = (await c.handshake(fields, ms)).returnCode as number;
    if (code !== 0) await c.waitClosed();
    return code;
  } finally {
    c.destroy();
  }
}

describe("authentication", () => {
  test("password file users of every scheme connect; wrong passwords get CONNACK 4", () =>
    withBroker(
      { auth: { "allow-anonymous": false, "password-file": passwordFile } },
      async ({ port }) => {
        for (
          const [user, password] of [["six", "sixpass"], ["five", "fivepass"], [
            "seven",
            "sevenpass",
          ]]
        ) {
          assert.equal(
            await connackCode(port, { username: user, password: Buffer.from(password) }),
            0,
            user,
          );
          assert.equal(
            await connackCode(port, { username: user, password: Buffer.from("nope") }),
            4,
            user,
          );
        }
        assert.equal(await connackCode(port, { username: "ghost", password: Buffer.from("x") }), 4);
      },
    ));

  test("anonymous clients get CONNACK 5 when allow-anonymous is off", () =>
    withBroker(
      { auth: { "allow-anonymous": false, "password-file": passwordFile } },
      async ({ port, logger }) => {
        assert.equal(await connackCode(port, {}), 5);
        // An empty user name is anonymous, so it is "not authorized", not a wrong user name.
        assert.equal(await connackCode(port, { username: "" }), 5);
        assert.ok(logger.lines.some((l) => /refused/.test(l)));
      },
    ));

  test("anonymous clients connect when allowed", () =>
    withBroker({ auth: { "allow-anonymous": true } }, async ({ port }) => {
      assert.equal(await connackCode(port, {}), 0);
    }));

  test("reload() picks up a changed password file", () =>
    withBroker(
      { auth: { "allow-anonymous": false, "password-file": passwordFile } },
      async ({ port, broker }) => {
        assert.equal(
          await connackCode(port, { username: "seven", password: Buffer.from("sevenpass") }),
          0,
        );
        writeFileSync(passwordFile, PASSWORD_FILE.replace(/^seven:.*$/m, ""));
        try {
          await broker.reload();
          assert.equal(
            await connackCode(port, { username: "seven", password: Buffer.from("sevenpass") }),
            4,
          );
        } finally {
          writeFileSync(passwordFile, PASSWORD_FILE);
        }
      },
    ));

  test("a plugin module named by path in the configuration is loaded and asked", () =>
    withBroker(
      { plugins: ["auth_anonymous", new URL("../fixtures/deny-mallory.ts", import.meta.url).href] },
      async ({ port }) => {
        assert.equal(
          await connackCode(port, { username: "mallory", password: Buffer.from("x") }),
          4,
        );
        assert.equal(await connackCode(port, { username: "alice", password: Buffer.from("x") }), 0);
      },
    ));
});

/** The CONNACK code MQTT.js reports for a refused connection (it fails if it is admitted). */
async function refusedWith(url: string, options: mqtt.IClientOptions): Promise<number> {
  const error = await connect(url, options).then((c) => {
    c.end(true);
    assert.fail("the client was admitted");
  }, (e: unknown) => e);
  return (error as { code?: number }).code ?? -1;
}

describe("nobody deciding is a refusal (MQTT.js)", () => {
  test("a user name with allow-anonymous off and no password file gets CONNACK 4, logged", () =>
    withBroker({ auth: { "allow-anonymous": false } }, async ({ url, logger }) => {
      assert.equal(await refusedWith(url, { username: "anyone" }), 4);
      assert.equal(await refusedWith(url, { username: "anyone", password: "x" }), 4);
      assert.equal(await refusedWith(url, {}), 5);
      assert.ok(
        logger.lines.some((l) => /no auth plugin decided on user "anyone"/.test(l)),
        logger.lines.join("\n"),
      );
    }));

  test("a user name with the defaults (no password file) is refused too", () =>
    withBroker({}, async ({ url, client }) => {
      assert.equal(await refusedWith(url, { username: "anyone", password: "x" }), 4);
      await client(); // anonymous clients are still admitted
    }));

  test("auth.plugins [auth_file] leaves clients without a user name to nobody: CONNACK 5", () =>
    withBroker(
      { auth: { plugins: ["auth_file"], "password-file": passwordFile } },
      async ({ url, client }) => {
        assert.equal(await refusedWith(url, {}), 5);
        await client({ username: "seven", password: "sevenpass" });
      },
    ));

  test("an unknown name in auth.plugins stops the broker naming key, value and the loaded ones", async () => {
    const error = await createBroker({
      listeners: { default: { bind: "127.0.0.1:0" } },
      auth: { plugins: ["auth_file", "ldap"], "password-file": passwordFile },
    }).then(async (b) => {
      await b.close();
      assert.fail("the broker started");
    }, (e: unknown) => e);
    assert.ok(error instanceof ConfigError, String(error));
    assert.deepEqual(error.problems, [
      'auth.plugins[1]: "ldap" is no loaded plugin; ' +
      "loaded plugins with authenticate: auth_anonymous, auth_file",
    ]);
  });
});

describe("a topic no plugin allows is denied (MQTT.js)", () => {
  test("with only topic_taboo asked, no subscription is granted and no publish accepted", () =>
    withBroker(
      { "topic-check": { enabled: true, plugins: ["topic_taboo"] } },
      async ({ client, logger }) => {
        const sub = await client();
        const refusal = await sub.subscribeAsync({ "open/x": { qos: 1 }, prohibited: { qos: 0 } })
          .then(() => undefined, (e: { packet?: { granted?: number[] } }) => e);
        assert.deepEqual(refusal?.packet?.granted, [128, 128]);
        const pub = await client();
        await pub.publishAsync("open/x", "hello", { qos: 1 });
        assert.ok(logger.lines.some((l) => /denied .* publishing to open\/x/.test(l)));
        assert.ok(logger.lines.some((l) => /names only topic_taboo/.test(l)));
      },
    ));
});

describe("a flood of wrong passwords", () => {
  test("a healthy QoS 0/1 pair keeps round-tripping while 50 bad CONNECTs are checked", () =>
    withBroker({ auth: { "password-file": passwordFile } }, async ({ port, client }) => {
      const sub = await client({ clientId: "sub" });
      const pub = await client({ clientId: "pub" });
      await sub.subscribeAsync("rt/#", { qos: 1 });
      const got = collect(sub);
      let done = false;
      const flood = Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          connackCode(port, {
            clientId: `flood-${i}`,
            username: i % 2 ? "six" : `nobody-${i}`,
            password: Buffer.from("wrong"),
          }, 20_000)),
      ).finally(() => (done = true));
      let during = 0;
      for (let n = 0; !done; n++) {
        const qos = (n % 2) as 0 | 1;
        await pub.publishAsync(`rt/${n}`, String(n), { qos });
        await eventually(() => got.some((m) => m.topic === `rt/${n}`), 5000, `rt/${n}`);
        if (!done) during++;
      }
      assert.deepEqual(new Set(await flood), new Set([4]));
      assert.ok(during > 0, "round trips completed while the flood was being checked");
    }));
});
