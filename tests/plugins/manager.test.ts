import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../../src/config/error.ts";
import { PluginManager } from "../../src/plugins/manager.ts";
import type { Message, Plugin, PluginContext, Verdict } from "../../src/plugins/types.ts";
import { authRequest, client, loadManager, makeConfig, memoryLogger } from "./helpers.ts";
import type { ThirdPartyPlugin } from "./fixtures/third_party.ts";

const noPublish = () => {};

const load = loadManager;

function voter(name: string, verdict: () => Verdict | Promise<Verdict>): Plugin {
  return { name, authenticate: verdict, topicFiltering: verdict };
}

function names(manager: PluginManager): string[] {
  return manager.plugins.map((p) => p.name);
}

test("the default set follows the configuration", async () => {
  assert.deepEqual(names(await load({})), ["auth_anonymous", "topic_acl"]);
  const sys: Plugin = { name: "broker_sys" };
  const other: Plugin = { name: "other" };
  const withSys = await PluginManager.load(
    makeConfig({ topicCheck: { plugins: ["topic_acl", "topic.taboo"] } }),
    memoryLogger(),
    noPublish,
    { broker_sys: () => sys, other: () => other },
  );
  assert.deepEqual(names(withSys), ["auth_anonymous", "topic_acl", "topic_taboo", "broker_sys"]);
});

test("auth_file joins the default set when a password file is set", async () => {
  await assert.rejects(
    load({ auth: { passwordFile: "/nonexistent/broker-passwd" } }),
    /plugin auth_file: setup failed: cannot read password file/,
  );
});

test("built-ins load by name, in the seed's dotted spelling too, and callers' builtins by name", async () => {
  const other: Plugin = { name: "other" };
  const manager = await PluginManager.load(
    makeConfig({ plugins: ["auth.anonymous", "topic_taboo", "other"] }),
    memoryLogger(),
    noPublish,
    { other: () => other },
  );
  assert.deepEqual(names(manager), ["auth_anonymous", "topic_taboo", "other"]);
});

test("one true and no false admits; any false denies; sync answers stay sync", async () => {
  const allow = voter("allow", () => true);
  const abstain = voter("abstain", () => undefined);
  const deny = voter("deny", () => false);
  const topicCheck = { enabled: true };

  const yes = await load({ plugins: [allow, abstain], topicCheck });
  const a = yes.authenticate(authRequest("u", "p"));
  assert.equal(typeof a, "boolean");
  assert.equal(a, true);
  const t = yes.checkTopic(client("u"), "a/b", "publish");
  assert.equal(typeof t, "boolean");
  assert.equal(t, true);

  const no = await load({ plugins: [allow, deny, abstain], topicCheck });
  assert.equal(no.authenticate(authRequest("u", "p")), false);
  assert.equal(no.checkTopic(client("u"), "a/b", "subscribe"), false);
});

test("when every plugin abstains, or none is asked, the client and the topic are refused", async () => {
  const abstain = voter("abstain", () => undefined);
  const alsoAbstain = voter("also", () => {});
  const topicCheck = { enabled: true };
  const logger = memoryLogger();
  const manager = await load({ plugins: [abstain, alsoAbstain], topicCheck }, logger);
  assert.equal(manager.authenticate(authRequest("u", "p")), false);
  assert.equal(manager.authenticate(authRequest()), false);
  assert.equal(manager.checkTopic(client("u"), "a/b", "publish"), false);
  assert.equal(manager.checkTopic(client("u"), "a/#", "subscribe"), false);
  assert.equal(manager.checkTopic(client("u"), "a/b", "receive"), false);
  assert.ok(
    logger.lines.some((l) =>
      l.startsWith("info") && l.includes('no auth plugin decided on user "u"') &&
      l.includes("asked: abstain, also") && l.includes("auth.password-file")
    ),
    logger.lines.join("\n"),
  );

  const later = voter("later", () => Promise.resolve(undefined));
  const async = await load({ plugins: [abstain, later], topicCheck });
  assert.equal(await async.authenticate(authRequest("u")), false);
  assert.equal(await async.checkTopic(client("u"), "t", "publish"), false);

  const odd = await load({ plugins: [voter("odd", () => "yes" as unknown as Verdict)] });
  assert.equal(odd.authenticate(authRequest("u")), false, "only true accepts");

  const none = memoryLogger();
  const empty = await load({ plugins: [], topicCheck }, none);
  assert.equal(empty.authenticate(authRequest()), false);
  assert.equal(empty.checkTopic(client(), "t", "publish"), false);
  assert.ok(none.lines.some((l) => l.startsWith("warn") && /every client is refused/.test(l)));
  assert.ok(none.lines.some((l) => l.startsWith("warn") && /every topic is denied/.test(l)));
});

test("the default built-ins refuse a user name nothing verifies, and name the fix", async () => {
  const logger = memoryLogger();
  const manager = await load({}, logger);
  assert.equal(manager.authenticate(authRequest()), true, "anonymous is allowed by default");
  assert.equal(manager.authenticate(authRequest("alice", "x")), false);
  assert.ok(
    logger.lines.some((l) =>
      /no auth plugin decided on user "alice" .*asked: auth_anonymous.*auth\.password-file/.test(l)
    ),
    logger.lines.join("\n"),
  );

  const closed = await load({ auth: { allowAnonymous: false } });
  assert.equal(closed.authenticate(authRequest()), false);
  assert.equal(closed.authenticate(authRequest("alice", "x")), false);

  const noAnonymous = await load({ plugins: ["auth_anonymous"], auth: { plugins: [] } });
  assert.equal(noAnonymous.authenticate(authRequest()), false, "auth_anonymous is not asked");
});

test("a late true does not admit once a false is in", async () => {
  const slowYes = voter("slow", () => new Promise<Verdict>((r) => setTimeout(() => r(true), 20)));
  const manager = await load({ plugins: [slowYes, voter("no", () => Promise.resolve(false))] });
  assert.equal(await manager.authenticate(authRequest("u")), false);
});

test("auth.plugins and topic-check.plugins choose who is asked", async () => {
  const allow = voter("allow", () => true);
  const deny = voter("deny", () => false);
  const manager = await load({
    plugins: [allow, deny],
    auth: { plugins: ["allow"] },
    topicCheck: { enabled: true, plugins: ["allow"] },
  });
  assert.equal(manager.authenticate(authRequest("u")), true);
  assert.equal(manager.checkTopic(client("u"), "t", "publish"), true);

  const dotted = await load({
    plugins: ["auth_anonymous", deny],
    auth: { plugins: ["auth.anonymous"], allowAnonymous: false },
  });
  assert.equal(dotted.authenticate(authRequest()), false);
  const open = await load({
    plugins: ["auth_anonymous", deny],
    auth: { plugins: ["auth.anonymous"] },
  });
  assert.equal(open.authenticate(authRequest()), true, "deny is not in auth.plugins");
  assert.equal(open.authenticate(authRequest("u")), false, "nobody asked decides user names");
});

test("a name in auth.plugins or topic-check.plugins that asks nothing is a configuration error", async () => {
  const allow = voter("allow", () => true);
  const listener: Plugin = { name: "listener", on: {} };
  const error = await load({
    plugins: ["auth_anonymous", "topic_acl", allow, listener],
    auth: { plugins: ["auth_anonymus", "missing", "listener", "auth_file"] },
    topicCheck: { plugins: ["topic_acl", "auth_anonymous"] },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ConfigError, String(error));
  const existing = "loaded plugins with authenticate: auth_anonymous, allow";
  assert.deepEqual(error.problems, [
    `auth.plugins[0]: "auth_anonymus" is no loaded plugin (did you mean auth_anonymous?); ${existing}`,
    `auth.plugins[1]: "missing" is no loaded plugin; ${existing}`,
    `auth.plugins[2]: "listener" has no authenticate or startAuth hook; ${existing}`,
    `auth.plugins[3]: "auth_file" is a built-in that is not loaded: add it to plugins; ${existing}`,
    'topic-check.plugins[1]: "auth_anonymous" has no topicFiltering hook; ' +
    "loaded plugins with topicFiltering: topic_acl, allow",
  ]);
});

test("topic checks are off unless topic-check.enabled", async () => {
  const manager = await load({ plugins: [voter("deny", () => false)] });
  assert.equal(manager.checkTopic(client("u"), "t", "publish"), true);
  assert.equal(manager.authenticate(authRequest("u")), false);
});

test("async answers give a promise of the same rule", async () => {
  const later = (v: Verdict) => voter(`later-${v}`, () => Promise.resolve(v));
  const topicCheck = { enabled: true };
  const yes = await load({ plugins: [voter("sync", () => true), later(true), later(undefined)] });
  const answer = yes.authenticate(authRequest("u"));
  assert.ok(answer instanceof Promise);
  assert.equal(await answer, true);

  const no = await load({ plugins: [later(true), later(false)], topicCheck });
  assert.equal(await no.authenticate(authRequest("u")), false);
  assert.equal(await no.checkTopic(client("u"), "t", "subscribe"), false);

  const syncDeny = await load({ plugins: [later(true), voter("deny", () => false)] });
  assert.equal(syncDeny.authenticate(authRequest("u")), false);
});

test("a hook that throws is a deny and is logged with the plugin's name", async () => {
  const logger = memoryLogger();
  const manager = await load({
    plugins: [voter("thrower", () => {
      throw new Error("boom");
    })],
    topicCheck: { enabled: true },
  }, logger);
  assert.equal(manager.authenticate(authRequest("u")), false);
  assert.equal(manager.checkTopic(client("u"), "t", "publish"), false);
  assert.ok(logger.lines.some((l) => l.startsWith("error") && /thrower.*boom/.test(l)));
});

test("a hook that rejects is a deny and is logged", async () => {
  const logger = memoryLogger();
  const manager = await load({
    plugins: [voter("rejecter", () => Promise.reject(new Error("nope")))],
  }, logger);
  assert.equal(await manager.authenticate(authRequest("u")), false);
  assert.ok(logger.lines.some((l) => l.startsWith("error") && /rejecter.*nope/.test(l)));
});

test("a hook that hangs past the timeout is a deny and is logged", async () => {
  const logger = memoryLogger();
  const manager = await load(
    {
      plugins: [voter("sleeper", () => new Promise<Verdict>(() => {}))],
    },
    logger,
    10,
  );
  assert.equal(await manager.authenticate(authRequest("u")), false);
  assert.ok(
    logger.lines.some((l) => l.startsWith("error") && /sleeper.*longer than 10 ms/.test(l)),
  );
  await manager.teardown();
});

test("teardown settles hanging hooks as denies, so no timer is left", async () => {
  const manager = await load({ plugins: [voter("sleeper", () => new Promise<Verdict>(() => {}))] });
  const answer = manager.authenticate(authRequest("u"));
  await manager.teardown();
  assert.equal(await answer, false);
});

test("emit calls listeners, logs their errors and rejections, and never throws", async () => {
  const seen: string[] = [];
  const logger = memoryLogger();
  const plugins: Plugin[] = [
    {
      name: "bad",
      on: {
        broker_client_connected: () => {
          throw new Error("listener broke");
        },
      },
    },
    {
      name: "async-bad",
      on: { broker_client_connected: () => Promise.reject(new Error("listener rejected")) },
    },
    { name: "good", on: { broker_client_connected: (c) => void seen.push(c.clientId) } },
  ];
  const manager = await load({ plugins }, logger);
  assert.equal(manager.listens("broker_client_connected"), true);
  assert.equal(manager.listens("broker_message_received"), false);
  manager.emit("broker_client_connected", client("u", "id-1"));
  manager.emit("broker_message_received", undefined, {
    topic: "t",
    payload: new Uint8Array(),
    qos: 0,
    retain: false,
  });
  assert.deepEqual(seen, ["id-1"]);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(logger.lines.some((l) => /bad: broker_client_connected: listener broke/.test(l)));
  assert.ok(logger.lines.some((l) => /async-bad.*listener rejected/.test(l)));
});

test("setup gets the config, a logger and publish; teardown runs last to first", async () => {
  const order: string[] = [];
  const published: Message[] = [];
  const logger = memoryLogger();
  const make = (name: string): Plugin => ({
    name,
    setup(context: PluginContext) {
      order.push(`setup ${name}`);
      context.logger.info("ready");
      context.publish({ topic: name, payload: new Uint8Array(), qos: 0, retain: false });
    },
    teardown() {
      order.push(`teardown ${name}`);
    },
  });
  const config = makeConfig({ plugins: [make("a"), make("b")] });
  const manager = await PluginManager.load(config, logger, (m) => published.push(m));
  await manager.teardown();
  await manager.teardown();
  assert.deepEqual(order, ["setup a", "setup b", "teardown b", "teardown a"]);
  assert.deepEqual(published.map((m) => m.topic), ["a", "b"]);
  assert.ok(logger.lines.includes("info a: ready"));
});

test("a failing setup tears down the plugins set up before it and names the plugin", async () => {
  const order: string[] = [];
  const ok: Plugin = { name: "ok", setup() {}, teardown: () => void order.push("teardown ok") };
  const bad: Plugin = {
    name: "bad",
    setup() {
      throw new Error("no database");
    },
    teardown: () => void order.push("teardown bad"),
  };
  await assert.rejects(load({ plugins: [ok, bad] }), /plugin bad: setup failed: no database/);
  assert.deepEqual(order, ["teardown ok"]);
});

test("third-party plugins load from a file path or URL", async () => {
  const url = new URL("./fixtures/third_party.ts", import.meta.url);
  const plain = new URL("./fixtures/plain_object.ts", import.meta.url);
  const manager = await load({
    plugins: [fileURLToPath(url), plain.href],
    auth: { allowAnonymous: false },
    topicCheck: { enabled: true },
  });
  assert.deepEqual(names(manager), ["third_party", "plain_object"]);
  const third = manager.plugins[0] as ThirdPartyPlugin;
  assert.equal(third.allowAnonymous, false, "the factory got the config");
  assert.equal(manager.authenticate(authRequest("blocked")), false);
  assert.equal(manager.authenticate(authRequest("alice")), true);
  assert.equal(manager.checkTopic(client("alice"), "forbidden", "publish"), false);
  assert.equal(manager.checkTopic(client("alice"), "forbidden", "subscribe"), true);
  manager.emit("broker_client_connected", client("alice", "c-9"));
  assert.deepEqual(third.connected, ["c-9"]);
});

test("bad entries fail with messages that say what is wrong", async () => {
  const notPlugin = fileURLToPath(new URL("./fixtures/not_a_plugin.ts", import.meta.url));
  await assert.rejects(load({ plugins: [notPlugin] }), /default export must be a plugin/);
  await assert.rejects(load({ plugins: ["./no/such/plugin.ts"] }), /cannot import it/);
  await assert.rejects(
    load({ plugins: ["auth_anonymus"] }),
    /"auth_anonymus" is not a built-in plugin \(auth_anonymous, auth_file, topic_acl, topic_taboo\)/,
  );
  await assert.rejects(load({ plugins: ["topic_acl", "topic.acl"] }), /topic_acl is loaded twice/);
});

test("reload calls every plugin's reload and reports the failures", async () => {
  const reloaded: string[] = [];
  const logger = memoryLogger();
  const manager = await load({
    plugins: [
      { name: "r1", reload: () => void reloaded.push("r1") },
      { name: "r2", reload: () => Promise.reject(new Error("bad file")) },
      { name: "r3", reload: () => void reloaded.push("r3") },
    ],
  }, logger);
  await assert.rejects(manager.reload(), /r2: reload failed: bad file/);
  assert.deepEqual(reloaded, ["r1", "r3"]);
  assert.ok(logger.lines.some((l) => l.startsWith("error") && l.includes("r2")));
});
