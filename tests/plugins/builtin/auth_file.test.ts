import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authFile } from "../../../src/plugins/builtin/auth_file.ts";
import { hashPassword } from "../../../src/plugins/password/mod.ts";
import { MAX_PENDING_CHECKS } from "../../../src/plugins/password/queue.ts";
import { authRequest, context, makeConfig, memoryLogger, turnCounter } from "../helpers.ts";

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

test("past the bound of pending checks a user is refused at once, with one warning", async () => {
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
    assert.equal(plugin.authenticate?.(authRequest("slow", "s")), false);
    assert.equal(plugin.authenticate?.(authRequest("other", "x")), false);
    assert.equal(logger.lines.filter((l) => /password checks are pending/.test(l)).length, 1);
    await plugin.teardown?.();
    assert.deepEqual(new Set(await Promise.all(pending)), new Set([false]));
  });
});
