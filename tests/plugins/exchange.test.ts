import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/error.ts";
import { EXCHANGE_FAILED } from "../../src/plugins/exchange.ts";
import type {
  AuthExchange,
  AuthExchangeRequest,
  AuthRequest,
  AuthStep,
  Plugin,
} from "../../src/plugins/types.ts";
import { authRequest, loadManager, memoryLogger } from "./helpers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => new TextDecoder().decode(data);

const load = loadManager;

/** A plugin for `methods` whose exchanges answer with `steps` in turn, recording what it saw. */
function method(
  name: string,
  methods: string[],
  steps: (request: AuthExchangeRequest, data: Uint8Array | undefined, n: number) =>
    | AuthStep
    | Promise<AuthStep>,
) {
  const seen = { requests: [] as AuthExchangeRequest[], data: [] as string[], aborts: 0 };
  const plugin: Plugin = {
    name,
    authMethods: methods,
    startAuth(request): AuthExchange {
      seen.requests.push(request);
      let n = 0;
      return {
        step: (data) => {
          seen.data.push(text(data));
          return steps(request, data, n++);
        },
        abort: () => void seen.aborts++,
      };
    },
  };
  return { plugin, seen };
}

/** Continues once with "challenge", then succeeds with "ok" as `username`. */
const challenge = (username?: string) => (_r: unknown, _d: unknown, n: number): AuthStep =>
  n === 0 ? { continue: bytes("challenge") } : { success: bytes("ok"), username };

function now(step: AuthStep | Promise<AuthStep>): AuthStep {
  assert.ok(!(step instanceof Promise), "expected a synchronous step");
  return step;
}

test("startAuthExchange drives the plugin that handles the method; an unknown method gets undefined", async () => {
  const token = method("token", ["TOKEN"], challenge("alice"));
  const logger = memoryLogger();
  const manager = await load({ plugins: [token.plugin] }, logger);
  assert.ok(
    logger.lines.some((l) =>
      /only clients using enhanced authentication \(TOKEN\) can connect/.test(l)
    ),
    logger.lines.join("\n"),
  );
  assert.equal(manager.startAuthExchange("SCRAM-SHA-256", authRequest()), undefined);
  assert.equal(manager.startAuthExchange("token", authRequest()), undefined, "names are exact");

  const request: AuthRequest = {
    ...authRequest(),
    protocolVersion: 5,
    authenticationMethod: "TOKEN",
    authenticationData: bytes("hello"),
    userProperties: [["region", "eu"], ["region", "us"]],
    sessionExpiryInterval: 60,
  };
  const exchange = manager.startAuthExchange("TOKEN", request);
  assert.ok(exchange);
  assert.equal(exchange.plugin, "token");
  assert.equal(exchange.method, "TOKEN");
  const opened = token.seen.requests[0];
  assert.equal(opened.method, "TOKEN");
  assert.equal(opened.reauthenticate, false);
  assert.deepEqual(opened.userProperties, [["region", "eu"], ["region", "us"]]);
  assert.equal(opened.sessionExpiryInterval, 60);

  assert.deepEqual(now(exchange.step(request.authenticationData)), {
    continue: bytes("challenge"),
  });
  assert.deepEqual(now(exchange.step(bytes("response"))), {
    success: bytes("ok"),
    username: "alice",
  });
  assert.deepEqual(token.seen.data, ["hello", "response"]);
  assert.equal(now(exchange.step(bytes("more"))), EXCHANGE_FAILED, "the exchange is over");
  assert.deepEqual(token.seen.data, ["hello", "response"], "the plugin is not asked again");
  exchange.abort();
  assert.equal(token.seen.aborts, 0, "an exchange that is over is not aborted");
});

test("async plugins give promised steps; startAuth may be async too", async () => {
  const plugin: Plugin = {
    name: "later",
    authMethods: ["LATER"],
    startAuth: () =>
      Promise.resolve({
        step: (data) =>
          Promise.resolve(
            data === undefined ? { continue: undefined } : { success: undefined, username: "bob" },
          ),
      }),
  };
  const manager = await load({ plugins: [plugin] });
  const exchange = manager.startAuthExchange("LATER", authRequest())!;
  const first = exchange.step(undefined);
  assert.ok(first instanceof Promise);
  assert.deepEqual(await first, { continue: undefined });
  assert.deepEqual(await exchange.step(bytes("x")), { success: undefined, username: "bob" });
});

test("auth.plugins chooses who handles methods; the first loaded wins otherwise", async () => {
  const a = method("a", ["TOKEN"], challenge());
  const b = method("b", ["TOKEN", "OTHER"], challenge());
  const logger = memoryLogger();
  const both = await load({ plugins: [a.plugin, b.plugin, "auth_anonymous"] }, logger);
  assert.equal(both.startAuthExchange("TOKEN", authRequest())?.plugin, "a");
  assert.equal(both.startAuthExchange("OTHER", authRequest())?.plugin, "b");
  assert.ok(
    logger.lines.some((l) => /"TOKEN" is handled by a, loaded first; b is not asked/.test(l)),
  );

  const onlyB = await load({ plugins: [a.plugin, b.plugin], auth: { plugins: ["b"] } });
  assert.equal(onlyB.startAuthExchange("TOKEN", authRequest())?.plugin, "b");
  const none = await load({
    plugins: [a.plugin, "auth_anonymous"],
    auth: { plugins: ["auth_anonymous"] },
  });
  assert.equal(none.startAuthExchange("TOKEN", authRequest()), undefined);

  const error = await load({
    plugins: [a.plugin, "auth_anonymous", { name: "listener", on: {} }],
    auth: { plugins: ["listener"] },
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof ConfigError, String(error));
  assert.deepEqual(error.problems, [
    'auth.plugins[0]: "listener" has no authenticate or startAuth hook; loaded plugins with ' +
    "authenticate: auth_anonymous; with only startAuth: a",
  ]);
});

test("startAuth and authMethods go together", async () => {
  const start = () => ({ step: () => ({ fail: 0x87 }) });
  await assert.rejects(
    load({ plugins: [{ name: "x", startAuth: start }] }),
    /plugin x: has startAuth, so authMethods must list the methods it handles/,
  );
  for (const authMethods of [[], [""], [7]] as string[][]) {
    await assert.rejects(
      load({ plugins: [{ name: "x", startAuth: start, authMethods }] }),
      /authMethods/,
    );
  }
  await assert.rejects(
    load({ plugins: [{ name: "y", authMethods: ["TOKEN"] }] }),
    /plugin y: has authMethods but no startAuth/,
  );
});

test("a step that throws, rejects or times out fails with 0x87 and ends the exchange", async () => {
  const logger = memoryLogger();
  const throws = method("throws", ["THROW"], () => {
    throw new Error("bad data");
  });
  const rejects = method("rejects", ["REJECT"], () => Promise.reject(new Error("down")));
  const hangs = method("hangs", ["HANG"], () => new Promise(() => {}));
  const manager = await load(
    { plugins: [throws.plugin, rejects.plugin, hangs.plugin] },
    logger,
    10,
  );

  const thrown = manager.startAuthExchange("THROW", authRequest("u"))!;
  assert.deepEqual(now(thrown.step(bytes("x"))), { fail: 0x87 });
  assert.equal(now(thrown.step(bytes("y"))), EXCHANGE_FAILED);
  assert.deepEqual(throws.seen.data, ["x"]);
  assert.ok(
    logger.lines.some((l) => /throws: THROW step threw, counted as a deny: bad data/.test(l)),
  );

  assert.deepEqual(await manager.startAuthExchange("REJECT", authRequest("u"))!.step(undefined), {
    fail: 0x87,
  });
  assert.ok(
    logger.lines.some((l) => /rejects: REJECT step rejected, counted as a deny: down/.test(l)),
  );

  const hung = manager.startAuthExchange("HANG", authRequest("u"))!;
  assert.deepEqual(await hung.step(undefined), { fail: 0x87 });
  assert.ok(logger.lines.some((l) => /hangs: HANG step took longer than 10 ms/.test(l)));
  assert.equal(now(hung.step(undefined)), EXCHANGE_FAILED);
  await manager.teardown();
});

test("a startAuth that throws, rejects or times out fails the first step", async () => {
  const logger = memoryLogger();
  const plugins: Plugin[] = [
    {
      name: "throws",
      authMethods: ["THROW"],
      startAuth: () => {
        throw new Error("no");
      },
    },
    { name: "rejects", authMethods: ["REJECT"], startAuth: () => Promise.reject(new Error("no")) },
    { name: "hangs", authMethods: ["HANG"], startAuth: () => new Promise(() => {}) },
  ];
  const manager = await load({ plugins }, logger, 10);
  assert.deepEqual(now(manager.startAuthExchange("THROW", authRequest())!.step(undefined)), {
    fail: 0x87,
  });
  assert.deepEqual(await manager.startAuthExchange("REJECT", authRequest())!.step(undefined), {
    fail: 0x87,
  });
  assert.deepEqual(await manager.startAuthExchange("HANG", authRequest())!.step(undefined), {
    fail: 0x87,
  });
  assert.ok(logger.lines.some((l) => /throws: startAuth threw/.test(l)));
  assert.ok(logger.lines.some((l) => /hangs: startAuth took longer than 10 ms/.test(l)));
  await manager.teardown();
});

test("an answer that is no step fails the exchange, logged", async () => {
  const answers: unknown[] = [
    undefined,
    null,
    "success",
    {},
    { continue: "text" },
    { success: new Uint8Array(0x10000) },
    { continue: undefined, success: undefined },
    { success: undefined, username: "" },
    { success: undefined, username: 42 },
  ];
  const logger = memoryLogger();
  let answer: unknown;
  const odd = method("odd", ["ODD"], () => answer as AuthStep);
  const manager = await load({ plugins: [odd.plugin] }, logger);
  for (answer of answers) {
    assert.deepEqual(
      now(manager.startAuthExchange("ODD", authRequest())!.step(undefined)),
      { fail: 0x87 },
      JSON.stringify(answer),
    );
  }
  assert.ok(
    logger.lines.some((l) => /odd: ODD step answered something that is not exactly one/.test(l)),
  );
});

test("fail codes must suit CONNACK, or DISCONNECT in a re-authentication", async () => {
  let answer: AuthStep = { fail: 0x86 };
  const logger = memoryLogger();
  const failing = method("failing", ["F"], () => answer);
  const manager = await load({ plugins: [failing.plugin] }, logger);
  const fail = (reauthenticate = false) =>
    now(manager.startAuthExchange("F", authRequest("alice"), reauthenticate)!.step(undefined));

  assert.deepEqual(fail(), { fail: 0x86 });
  assert.deepEqual(fail(true), { fail: 0x87 }, "DISCONNECT has no 0x86");
  assert.equal(failing.seen.requests[1].reauthenticate, true);
  answer = { fail: 0x9d, serverReference: "new.example", reasonString: "moved" };
  assert.deepEqual(fail(), { fail: 0x9d, serverReference: "new.example", reasonString: "moved" });
  assert.deepEqual(fail(true), {
    fail: 0x9d,
    serverReference: "new.example",
    reasonString: "moved",
  });
  for (const code of [0x00, 0x18, 0x7f, 0x8e, 0x100]) {
    answer = { fail: code };
    assert.deepEqual(fail(), { fail: 0x87 }, `0x${code.toString(16)}`);
  }
  answer = { fail: 0x8e };
  assert.deepEqual(fail(true), { fail: 0x8e }, "session taken over is a DISCONNECT code");
  assert.ok(
    logger.lines.some((l) =>
      /failing: F step answered reason code 0x86 .*no DISCONNECT refusal; sent 0x87/.test(l)
    ),
  );
});

test("a success names the user the client is to be, and must agree with the one it gave", async () => {
  let named: string | undefined = "alice";
  const plugin = method("named", ["N"], () => ({ success: undefined, username: named })).plugin;
  const logger = memoryLogger();
  const manager = await load({ plugins: [plugin] }, logger);
  const step = (username: string | undefined, reauthenticate = false) =>
    now(manager.startAuthExchange("N", authRequest(username), reauthenticate)!.step(undefined));

  assert.deepEqual(step(undefined), { success: undefined, username: "alice" });
  assert.deepEqual(step(""), { success: undefined, username: "alice" }, "empty is none");
  assert.deepEqual(step("alice"), { success: undefined, username: "alice" });
  assert.deepEqual(step("bob"), { fail: 0x86 });
  assert.ok(
    logger.lines.some((l) => /named: N authenticated "alice", but the client is "bob"/.test(l)),
  );
  assert.deepEqual(step("alice", true), { success: undefined, username: "alice" });
  assert.deepEqual(step("bob", true), { fail: 0x87 }, "re-authentication keeps the user name");
  assert.deepEqual(step(undefined, true), { fail: 0x87 });

  named = undefined;
  assert.deepEqual(step("bob"), { success: undefined, username: "bob" }, "the client's stands");
  assert.deepEqual(step("bob", true), { success: undefined, username: "bob" });
  assert.deepEqual(step(undefined), { success: undefined }, "no user name at all");
});

test("abort calls the plugin's abort once, and a pending step then fails", async () => {
  let release: (step: AuthStep) => void = () => {};
  const slow = method("slow", ["SLOW"], () => new Promise<AuthStep>((r) => release = r));
  const manager = await load({ plugins: [slow.plugin] });
  const exchange = manager.startAuthExchange("SLOW", authRequest())!;
  const pending = exchange.step(undefined);
  exchange.abort();
  exchange.abort();
  assert.equal(slow.seen.aborts, 1);
  release({ success: undefined, username: "alice" });
  assert.deepEqual(await pending, { fail: 0x87 }, "an aborted exchange never succeeds");
  assert.equal(now(exchange.step(undefined)), EXCHANGE_FAILED);
});

test("a step asked while the previous one is pending fails the exchange", async () => {
  let release: (step: AuthStep) => void = () => {};
  const slow = method("slow", ["SLOW"], () => new Promise<AuthStep>((r) => release = r));
  const manager = await load({ plugins: [slow.plugin] });
  const exchange = manager.startAuthExchange("SLOW", authRequest())!;
  const pending = exchange.step(undefined);
  assert.equal(now(exchange.step(undefined)), EXCHANGE_FAILED);
  assert.equal(slow.seen.aborts, 1);
  release({ continue: undefined });
  assert.deepEqual(await pending, { fail: 0x87 });
});

test("an exchange aborted while startAuth runs is aborted once the plugin has opened it", async () => {
  let open: (exchange: AuthExchange) => void = () => {};
  let aborted = 0;
  const plugin: Plugin = {
    name: "opening",
    authMethods: ["OPEN"],
    startAuth: () => new Promise<AuthExchange>((r) => open = r),
  };
  const manager = await load({ plugins: [plugin] });
  const exchange = manager.startAuthExchange("OPEN", authRequest())!;
  exchange.abort();
  open({ step: () => ({ continue: undefined }), abort: () => void aborted++ });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(aborted, 1);
  assert.equal(exchange.step(undefined) instanceof Promise, false);
});

test("teardown aborts the exchanges still running and settles their steps", async () => {
  const slow = method("slow", ["SLOW"], () => new Promise<AuthStep>(() => {}));
  const done = method("done", ["DONE"], () => ({ success: undefined }));
  const manager = await load({ plugins: [slow.plugin, done.plugin] });
  const running = manager.startAuthExchange("SLOW", authRequest())!;
  const pending = running.step(undefined);
  now(manager.startAuthExchange("DONE", authRequest())!.step(undefined));
  await manager.teardown();
  assert.equal(slow.seen.aborts, 1);
  assert.equal(done.seen.aborts, 0);
  assert.deepEqual(await pending, { fail: 0x87 });
});
