import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authFile } from "../../../src/plugins/builtin/auth_file.ts";
import type { AuthExchangeHandle } from "../../../src/plugins/exchange.ts";
import { PluginManager } from "../../../src/plugins/manager.ts";
import { hashPassword } from "../../../src/plugins/password/mod.ts";
import { MAX_PENDING_CHECKS } from "../../../src/plugins/password/queue.ts";
import { createScramEntry } from "../../../src/plugins/password/scram.ts";
import type { AuthRequest, AuthStep, VerdictDetails } from "../../../src/plugins/types.ts";
import { ReasonCode } from "../../../src/protocol/reason.ts";
import type { ConfigOverrides } from "../helpers.ts";
import { authRequest, context, makeConfig, memoryLogger, turnCounter } from "../helpers.ts";
import { ScramClient } from "../scram_client.ts";

// alice/secret by mosquitto_passwd; bob/secret by openssl passwd -6.
const ALICE =
  "$7$101$TBMjtGgpMmkr2ZX/$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6+rMeOKbPbAd0FIWEVUM7EmHCBXdlE7IvdUIcqiSwn8Q==";
const BOB =
  "$6$saltstring$AIsRs/Ee56G/tC8MEHhvReZTfx8u3rXXMl6eYrjCG9ibix19DxoMBLogdTET5Ukw9Sf7eZTITsuk0Ry5qulYz.";
// carol/hunter2 by mosquitto_passwd -H sha512
const CAROL =
  "$6$0s6U6RR+vK769K8C$PeWuAAdf3DOpSzsPs0Lm/HhhYVGz6Px//bC8gv1zGufa4VC0ot8gBcJvckD1Dzo8qbsw91A+Xr4uuBZ0TCESlQ==";

async function withFile(text: string, body: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "broker-auth-file-"));
  try {
    const path = join(dir, "passwd");
    await writeFile(path, text);
    await body(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("known users with the right password pass; wrong password or unknown user is denied", async () => {
  await withFile(`# test\nalice:${ALICE}\nbob:${BOB}\n`, async (path) => {
    const config = makeConfig({ auth: { passwordFile: path } });
    const plugin = authFile(config);
    await plugin.setup?.(context(config));
    assert.equal(plugin.size, 2);
    assert.equal(await plugin.authenticate?.(authRequest("alice", "secret")), true);
    assert.equal(await plugin.authenticate?.(authRequest("bob", "secret")), true);
    assert.equal(await plugin.authenticate?.(authRequest("alice", "wrong")), false);
    assert.equal(await plugin.authenticate?.(authRequest("alice")), false);
    assert.equal(await plugin.authenticate?.(authRequest("mallory", "secret")), false);
    assert.equal(plugin.authenticate?.(authRequest()), undefined, "anonymous is not its business");
  });
});

test("reload() re-reads the file, and keeps the old users when the new file is bad", async () => {
  await withFile(`alice:${ALICE}\n`, async (path) => {
    const config = makeConfig({ auth: { passwordFile: path } });
    const logger = memoryLogger();
    const plugin = authFile(config);
    await plugin.setup?.(context(config, logger));
    assert.equal(await plugin.authenticate?.(authRequest("carol", "hunter2")), false);

    await writeFile(path, `carol:${CAROL}\n`);
    await plugin.reload();
    assert.equal(await plugin.authenticate?.(authRequest("carol", "hunter2")), true);
    assert.equal(await plugin.authenticate?.(authRequest("alice", "secret")), false);

    await writeFile(path, `carol:${CAROL}\nbroken line\n`);
    await assert.rejects(plugin.reload(), /line 2/);
    assert.equal(await plugin.authenticate?.(authRequest("carol", "hunter2")), true);
    assert.ok(logger.lines.some((l) => l.includes("1 users loaded")));
  });
});

test("setup fails with a clear message when the file is missing or unset", async () => {
  const missing = makeConfig({ auth: { passwordFile: join(tmpdir(), "no-such-broker-file") } });
  await assert.rejects(
    Promise.resolve(authFile(missing).setup?.(context(missing))),
    /cannot read password file/,
  );
  const unset = makeConfig();
  await assert.rejects(
    Promise.resolve(authFile(unset).setup?.(context(unset))),
    /auth\.password-file/,
  );
});

test("unknown users, missing passwords and wrong passwords each cost a check of the file's shape", async () => {
  // The file's commonest shape is slow SHA-512-crypt; the decoy must be too, not a quick $7$.
  const slow = (pw: string) => hashPassword(pw, { scheme: "sha512-crypt", rounds: 20_000 });
  await withFile(`alice:${ALICE}\nbob:${slow("b")}\ncarol:${slow("c")}\n`, async (path) => {
    const config = makeConfig({ auth: { passwordFile: path } });
    const plugin = authFile(config);
    await plugin.setup?.(context(config));
    try {
      for (
        const request of [authRequest("mallory", "x"), authRequest("bob"), authRequest("bob", "x")]
      ) {
        const counter = turnCounter();
        try {
          const answer = plugin.authenticate?.(request);
          assert.ok(
            answer instanceof Promise,
            `${request.username} is checked, not answered at once`,
          );
          assert.equal(await answer, false);
          assert.ok(counter.turns >= 2, `${request.username}: ${counter.turns} turns`);
        } finally {
          counter.stop();
        }
      }
      assert.equal(await plugin.authenticate?.(authRequest("bob", "b")), true);
    } finally {
      await plugin.teardown?.();
    }
  });
});

test("past the bound of pending checks a user is refused at once as busy, with one warning", async () => {
  // Everything up to teardown runs in one turn, so the first check cannot finish before it.
  const slow = hashPassword("s", { scheme: "sha512-crypt" });
  await withFile(`slow:${slow}\n`, async (path) => {
    const config = makeConfig({ auth: { passwordFile: path } });
    const logger = memoryLogger();
    const plugin = authFile(config);
    await plugin.setup?.(context(config, logger));
    const pending = Array.from(
      { length: MAX_PENDING_CHECKS },
      () => plugin.authenticate?.(authRequest("slow", "wrong")),
    );
    assert.ok(pending.every((p) => p instanceof Promise));
    for (const user of ["slow", "other"]) {
      const answer = plugin.authenticate?.(authRequest(user, "s")) as VerdictDetails;
      assert.equal(answer.allow, false);
      assert.equal(answer.reasonCode, ReasonCode.SERVER_BUSY);
    }
    assert.equal(logger.lines.filter((l) => /password checks are pending/.test(l)).length, 1);
    await plugin.teardown?.();
    assert.deepEqual(new Set(await Promise.all(pending)), new Set([false]));
  });
});

const SCRAM = "SCRAM-SHA-256";
const decoder = new TextDecoder();
const scramEntries = (async () => ({
  alice: await createScramEntry("wonderland"),
  dave: await createScramEntry("slow", { iterations: 4100 }),
}))();

/** A manager over a password file holding `text`, loaded as the broker loads it. */
async function withManager(
  text: string,
  body: (manager: PluginManager, path: string) => void | Promise<void>,
  overrides: ConfigOverrides = {},
  logger = memoryLogger(),
): Promise<void> {
  await withFile(text, async (path) => {
    const config = makeConfig({ ...overrides, auth: { passwordFile: path, ...overrides.auth } });
    const manager = await PluginManager.load(config, logger, () => {});
    try {
      await body(manager, path);
    } finally {
      await manager.teardown();
    }
  });
}

function open(manager: PluginManager, request: AuthRequest, reauthenticate = false) {
  const exchange = manager.startAuthExchange(SCRAM, request, reauthenticate);
  assert.ok(exchange, "auth_file handles SCRAM-SHA-256");
  return exchange;
}

/** Runs the whole exchange for `client`: the server-first message and the final step. */
async function scram(exchange: AuthExchangeHandle, client: ScramClient) {
  const first = await exchange.step(client.first());
  if (!("continue" in first)) return { serverFirst: "", last: first };
  assert.ok(first.continue);
  const last: AuthStep = await exchange.step(client.final(first.continue));
  return { serverFirst: decoder.decode(first.continue), last };
}

test("SCRAM-SHA-256 over the password file: a full exchange authenticates the user", async () => {
  const { alice } = await scramEntries;
  await withManager(`alice:${alice}\nbob:${ALICE}\n`, async (manager) => {
    assert.equal(manager.plugins.some((p) => p.name === "auth_file"), true);
    for (const username of [undefined, "alice"]) {
      const client = new ScramClient("alice", "wonderland");
      const { serverFirst, last } = await scram(open(manager, authRequest(username)), client);
      assert.match(serverFirst, /,i=4096$/);
      assert.ok("success" in last, JSON.stringify(last));
      assert.equal(last.username, "alice");
      assert.equal(decoder.decode(last.success), client.serverSignature());
    }
    // A plain password still works for the same entry.
    assert.equal(await manager.authenticate(authRequest("alice", "wonderland")), true);
  });
});

test("SCRAM-SHA-256 failures: wrong password, unknown user, user without a SCRAM entry, alike", async () => {
  const { alice, dave } = await scramEntries;
  const logger = memoryLogger();
  await withManager(
    `alice:${alice}\nbob:${ALICE}\ncarol:${alice}\ndave:${dave}\n`,
    async (manager) => {
      const expected = { fail: 0x86, reasonString: "SCRAM-SHA-256: invalid-proof" };
      const shapes: string[] = [];
      for (const [user, password] of [["alice", "nope"], ["mallory", "x"], ["bob", "secret"]]) {
        const { serverFirst, last } = await scram(
          open(manager, authRequest()),
          new ScramClient(user, password),
        );
        assert.deepEqual(last, expected, user);
        shapes.push(serverFirst.replace(/^r=[^,]+,s=[^,]+,/, ""));
      }
      // Unknown users are shown the commonest iteration count of the file's SCRAM entries.
      assert.deepEqual(shapes, ["i=4096", "i=4096", "i=4096"]);
      assert.ok(logger.lines.some((l) => /mallory" has no SCRAM-SHA-256 credential/.test(l)));
      assert.ok(logger.lines.some((l) => /wrong proof for user "alice"/.test(l)));

      const malformed = await open(manager, authRequest()).step(new TextEncoder().encode("hello"));
      assert.deepEqual(malformed, { fail: 0x86, reasonString: "SCRAM-SHA-256: invalid-encoding" });
      assert.deepEqual(await open(manager, authRequest()).step(undefined), {
        fail: 0x86,
        reasonString: "SCRAM-SHA-256: invalid-encoding",
      });
    },
    {},
    logger,
  );
});

test("SCRAM-SHA-256: the CONNECT's user name must be the SCRAM user's", async () => {
  const { alice } = await scramEntries;
  await withManager(`alice:${alice}\n`, async (manager) => {
    const { last } = await scram(
      open(manager, authRequest("bob")),
      new ScramClient("alice", "wonderland"),
    );
    assert.deepEqual(last, { fail: 0x86 });
  });
});

test("SCRAM-SHA-256 re-authentication keeps the user; its failures are 0x87", async () => {
  const { alice } = await scramEntries;
  await withManager(`alice:${alice}\ncarol:${alice}\n`, async (manager) => {
    const again = await scram(
      open(manager, authRequest("alice"), true),
      new ScramClient("alice", "wonderland"),
    );
    assert.ok("success" in again.last && again.last.username === "alice", JSON.stringify(again));
    const wrong = await scram(
      open(manager, authRequest("alice"), true),
      new ScramClient("alice", "x"),
    );
    assert.deepEqual(wrong.last, { fail: 0x87, reasonString: "SCRAM-SHA-256: invalid-proof" });
    const other = await scram(
      open(manager, authRequest("alice"), true),
      new ScramClient("carol", "wonderland"),
    );
    assert.deepEqual(other.last, { fail: 0x87 }, "a re-authentication cannot change the user");
  });
});

test("SCRAM-SHA-256 follows reload and auth.plugins", async () => {
  const { alice, dave } = await scramEntries;
  await withManager(`alice:${alice}\n`, async (manager, path) => {
    await writeFile(path, `dave:${dave}\n`);
    await manager.reload();
    const gone = await scram(open(manager, authRequest()), new ScramClient("alice", "wonderland"));
    assert.equal("fail" in gone.last && gone.last.fail, 0x86);
    const { serverFirst, last } = await scram(
      open(manager, authRequest()),
      new ScramClient("dave", "slow"),
    );
    assert.match(serverFirst, /,i=4100$/);
    assert.ok("success" in last && last.username === "dave");
    const unknown = await scram(open(manager, authRequest()), new ScramClient("erin", "x"));
    assert.match(unknown.serverFirst, /,i=4100$/, "unknown users look like the file's users");
  });
  await withManager(`alice:${alice}\n`, (manager) => {
    assert.equal(manager.startAuthExchange(SCRAM, authRequest()), undefined);
  }, { auth: { plugins: ["auth_anonymous"] } });
});
