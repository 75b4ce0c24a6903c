import { test } from "node:test";
import assert from "node:assert/strict";
import type { AuthVerdict, Decision, Plugin, Verdict } from "../../src/plugins/types.ts";
import { authRequest, client, loadManager, memoryLogger } from "./helpers.ts";

const topicCheck = { enabled: true };

const load = loadManager;

function auth(name: string, answer: () => AuthVerdict | Promise<AuthVerdict>): Plugin {
  return { name, authenticate: answer };
}

function topics(name: string, answer: () => Verdict | Promise<Verdict>): Plugin {
  return { name, topicFiltering: answer };
}

/** The decision, asserting that it came without a promise. */
function now(decision: Decision | Promise<Decision>): Decision {
  assert.ok(!(decision instanceof Promise), "expected a synchronous decision");
  return decision;
}

test("a plain refusal gets the default code: 0x86 with a user name, 0x87 without, 0x87 for topics", async () => {
  const no = await load({
    plugins: [auth("no", () => false), topics("no-topics", () => false)],
    topicCheck,
  });
  assert.deepEqual(now(no.decideAuth(authRequest("alice", "pw"))), {
    allow: false,
    reasonCode: 0x86,
  });
  assert.deepEqual(now(no.decideAuth(authRequest())), { allow: false, reasonCode: 0x87 });
  assert.deepEqual(now(no.decideAuth(authRequest(""))), { allow: false, reasonCode: 0x87 });
  for (const action of ["subscribe", "publish", "receive"] as const) {
    assert.deepEqual(now(no.decideTopic(client("alice"), "t", action)), {
      allow: false,
      reasonCode: 0x87,
    });
  }

  const abstain = await load({ plugins: [auth("abstain", () => undefined)] });
  assert.deepEqual(now(abstain.decideAuth(authRequest("alice"))), {
    allow: false,
    reasonCode: 0x86,
  });
  assert.deepEqual(now(abstain.decideAuth(authRequest())), { allow: false, reasonCode: 0x87 });

  const yes = await load({ plugins: [auth("yes", () => ({ allow: true, reasonCode: 0x87 }))] });
  assert.deepEqual(now(yes.decideAuth(authRequest("alice"))), { allow: true, reasonCode: 0 });
  assert.equal(yes.authenticate(authRequest("alice")), true);
});

test("a refusal object carries its reason code, reason string and redirection", async () => {
  let answer: AuthVerdict = { allow: false, reasonCode: 0x8a, reasonString: "banned" };
  let topicAnswer: Verdict = { allow: false, reasonCode: 0x97, reasonString: "quota" };
  const manager = await load({
    plugins: [
      auth("a", () => answer),
      topics("t", () => topicAnswer),
    ],
    topicCheck,
  });
  assert.deepEqual(now(manager.decideAuth(authRequest("alice"))), {
    allow: false,
    reasonCode: 0x8a,
    reasonString: "banned",
  });
  assert.equal(manager.authenticate(authRequest("alice")), false);

  for (const reasonCode of [0x9c, 0x9d]) {
    answer = { allow: false, reasonCode, serverReference: "other.example:1883" };
    assert.deepEqual(now(manager.decideAuth(authRequest("alice"))), {
      allow: false,
      reasonCode,
      serverReference: "other.example:1883",
    });
  }
  answer = { allow: false, reasonString: "no" };
  assert.deepEqual(now(manager.decideAuth(authRequest())), {
    allow: false,
    reasonCode: 0x87,
    reasonString: "no",
  });

  assert.deepEqual(now(manager.decideTopic(client("u"), "t", "publish")), {
    allow: false,
    reasonCode: 0x97,
    reasonString: "quota",
  });
  assert.equal(manager.checkTopic(client("u"), "t", "publish"), false);
  // 0x8F (topic filter invalid) is a SUBACK code, 0x90 (topic name invalid) a PUBACK one.
  topicAnswer = { allow: false, reasonCode: 0x8f };
  assert.equal(now(manager.decideTopic(client("u"), "t/#", "subscribe")).reasonCode, 0x8f);
  topicAnswer = { allow: false, reasonCode: 0x90 };
  assert.equal(now(manager.decideTopic(client("u"), "t", "publish")).reasonCode, 0x90);
  assert.equal(now(manager.decideTopic(client("u"), "t", "receive")).reasonCode, 0x90);
});

test("the first refusal decides, in plugin order when synchronous", async () => {
  const manager = await load({
    plugins: [
      auth("yes", () => true),
      auth("first", () => ({ allow: false, reasonCode: 0x8a })),
      auth("second", () => ({ allow: false, reasonCode: 0x89 })),
    ],
  });
  assert.equal(now(manager.decideAuth(authRequest("u"))).reasonCode, 0x8a);
});

test("invalid codes, strings and server references are replaced, and logged once per plugin and hook", async () => {
  const logger = memoryLogger();
  let answer: AuthVerdict = { allow: false, reasonCode: 0x00 };
  let topicAnswer: Verdict = { allow: false, reasonCode: 0x8f };
  const manager = await load({
    plugins: [auth("bad", () => answer), topics("bad-topics", () => topicAnswer)],
    topicCheck,
  }, logger);
  const code = (username?: string) => now(manager.decideAuth(authRequest(username))).reasonCode;

  // Success, a code CONNACK does not carry, out of range, not an integer, not a number.
  for (const reasonCode of [0x00, 0x10, 0x8f, 0x93, 0x187, 135.5, -1]) {
    answer = { allow: false, reasonCode };
    assert.equal(code("alice"), 0x86, `0x${reasonCode.toString(16)}`);
    assert.equal(code(), 0x87, `0x${reasonCode.toString(16)}`);
  }
  answer = { allow: false, reasonCode: "0x8A" as unknown as number };
  assert.equal(code("alice"), 0x86);
  const warnings = logger.lines.filter((l) => l.startsWith("warn plugin bad: authenticate"));
  assert.equal(warnings.length, 1, logger.lines.join("\n"));
  assert.match(warnings[0], /reason code 0x00 \(success\), which is no CONNACK refusal; sent 0x86/);

  const strings = await load({ plugins: [auth("strings", () => answer)] }, logger);
  for (const reasonString of ["a\0b", "lone \uD800", "x".repeat(70000), 42]) {
    answer = { allow: false, reasonCode: 0x8a, reasonString: reasonString as string };
    assert.deepEqual(now(strings.decideAuth(authRequest("u"))), {
      allow: false,
      reasonCode: 0x8a,
    });
  }
  answer = { allow: false, reasonString: "ok \u{1F600}" };
  assert.equal(now(strings.decideAuth(authRequest("u"))).reasonString, "ok \u{1F600}");
  assert.ok(
    logger.lines.some((l) =>
      /strings: authenticate answered a reasonString that contains U\+0000/.test(l)
    ),
  );

  const refer = await load({ plugins: [auth("refer", () => answer)] }, logger);
  answer = { allow: false, reasonCode: 0x87, serverReference: "elsewhere" };
  assert.deepEqual(now(refer.decideAuth(authRequest("u"))), { allow: false, reasonCode: 0x87 });
  answer = { allow: false, reasonCode: 0x9c, serverReference: "bad\0" };
  assert.deepEqual(now(refer.decideAuth(authRequest("u"))), { allow: false, reasonCode: 0x9c });
  assert.ok(
    logger.lines.some((l) => /refer: authenticate answered a serverReference with 0x87/.test(l)),
  );

  // 0x8F is a SUBACK code only; PUBACK has no 0x9E; a topic refusal never redirects.
  assert.equal(now(manager.decideTopic(client("u"), "t", "publish")).reasonCode, 0x87);
  topicAnswer = { allow: false, reasonCode: 0x9e };
  assert.equal(now(manager.decideTopic(client("u"), "t", "publish")).reasonCode, 0x87);
  assert.equal(now(manager.decideTopic(client("u"), "t", "subscribe")).reasonCode, 0x9e);
  topicAnswer = { allow: false, reasonCode: 0x9c, serverReference: "x" } as Verdict;
  assert.deepEqual(now(manager.decideTopic(client("u"), "t", "subscribe")), {
    allow: false,
    reasonCode: 0x87,
  });
  assert.ok(
    logger.lines.some((l) => /bad-topics: topicFiltering answered reason code 0x8F/.test(l)),
  );
});

test("an object without a boolean allow is a deny, not an abstention", async () => {
  const logger = memoryLogger();
  const manager = await load({
    plugins: [
      auth("yes", () => true),
      auth("typo", () => ({ allowed: true }) as unknown as AuthVerdict),
    ],
  }, logger);
  assert.deepEqual(now(manager.decideAuth(authRequest("u"))), { allow: false, reasonCode: 0x86 });
  assert.ok(
    logger.lines.some((l) => /typo: authenticate answered an object without allow/.test(l)),
  );
});

test("sync answers stay sync, and plain answers are shared frozen decisions", async () => {
  const topical = await load({
    plugins: [auth("a", () => true), topics("t", () => true), topics("abstain", () => {})],
    topicCheck,
  });
  const first = now(topical.decideTopic(client("u"), "a/b", "publish"));
  const second = now(topical.decideTopic(client("v"), "c", "subscribe"));
  assert.equal(first, second, "the same object: nothing allocated per check");
  assert.ok(Object.isFrozen(first));
  assert.equal(now(topical.decideAuth(authRequest("u"))), first);

  const denying = await load({ plugins: [topics("no", () => false)], topicCheck });
  const denied = now(denying.decideTopic(client("u"), "a", "publish"));
  assert.equal(now(denying.decideTopic(client("u"), "b", "receive")), denied);
  assert.ok(Object.isFrozen(denied));

  const off = await load({ plugins: [topics("no", () => false)] });
  assert.deepEqual(now(off.decideTopic(client("u"), "a", "publish")), {
    allow: true,
    reasonCode: 0,
  });

  const details = await load({
    plugins: [auth("d", () => ({ allow: false, reasonCode: 0x8a }))],
  });
  assert.equal(now(details.decideAuth(authRequest("u"))).reasonCode, 0x8a);
});

test("async answers carry their reasons; rejections, throws and timeouts get the default code", async () => {
  const later = await load({
    plugins: [
      auth("sync-yes", () => true),
      auth("later", () => Promise.resolve({ allow: false, reasonCode: 0x97 })),
      topics("later-topics", () => Promise.resolve({ allow: false, reasonCode: 0x97 })),
    ],
    topicCheck,
  });
  const pending = later.decideAuth(authRequest("u"));
  assert.ok(pending instanceof Promise);
  assert.deepEqual(await pending, { allow: false, reasonCode: 0x97 });
  assert.deepEqual(await later.decideTopic(client("u"), "t", "publish"), {
    allow: false,
    reasonCode: 0x97,
  });
  assert.equal(await later.authenticate(authRequest("u")), false);
  assert.equal(await later.checkTopic(client("u"), "t", "publish"), false);

  const asyncYes = await load({
    plugins: [auth("later-yes", () => Promise.resolve({ allow: true }))],
  });
  assert.deepEqual(await asyncYes.decideAuth(authRequest("u")), { allow: true, reasonCode: 0 });

  const rejects = await load({ plugins: [auth("rejects", () => Promise.reject(new Error("x")))] });
  assert.deepEqual(await rejects.decideAuth(authRequest("u")), { allow: false, reasonCode: 0x86 });
  const throws = await load({
    plugins: [auth("throws", () => {
      throw new Error("x");
    })],
  });
  assert.deepEqual(now(throws.decideAuth(authRequest())), { allow: false, reasonCode: 0x87 });

  const logger = memoryLogger();
  const hangs = await load({ plugins: [auth("hangs", () => new Promise(() => {}))] }, logger, 10);
  assert.deepEqual(await hangs.decideAuth(authRequest("u")), { allow: false, reasonCode: 0x86 });
  assert.ok(logger.lines.some((l) => /hangs: authenticate took longer than 10 ms/.test(l)));
  await hangs.teardown();
});
