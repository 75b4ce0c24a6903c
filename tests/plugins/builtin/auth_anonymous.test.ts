import { test } from "node:test";
import assert from "node:assert/strict";
import { authAnonymous } from "../../../src/plugins/builtin/auth_anonymous.ts";
import { authRequest, makeConfig } from "../helpers.ts";

test("allow-anonymous true lets clients without user name in", () => {
  const plugin = authAnonymous(makeConfig({ auth: { allowAnonymous: true } }));
  assert.equal(plugin.name, "auth_anonymous");
  assert.equal(plugin.authenticate?.(authRequest()), true);
});

test("allow-anonymous false denies clients without (or with an empty) user name", () => {
  const plugin = authAnonymous(makeConfig({ auth: { allowAnonymous: false } }));
  assert.equal(plugin.authenticate?.(authRequest()), false);
  assert.equal(plugin.authenticate?.(authRequest("")), false);
});

test("clients with a user name are left to other plugins", () => {
  for (const allowAnonymous of [true, false]) {
    const plugin = authAnonymous(makeConfig({ auth: { allowAnonymous } }));
    assert.equal(plugin.authenticate?.(authRequest("alice", "x")), undefined);
  }
});
