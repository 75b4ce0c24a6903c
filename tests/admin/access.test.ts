import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashPassword } from "../../src/plugins/password/mod.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { memoryLogger } from "../helpers/broker.ts";
import { type AdminBroker, adminFor, basic, request, startAdminBroker } from "./helpers.ts";

const REMOTE = { hostname: "192.0.2.7", port: 40000 };
const LOCAL = { hostname: "127.0.0.1", port: 40000 };

describe("without admin users", () => {
  test("a client not on loopback gets 403, except for the health endpoints", async () => {
    const admin = await adminFor();
    try {
      const metrics = await admin.handle(request("/metrics"), REMOTE);
      assert.equal(metrics.status, 403);
      assert.match(await metrics.text(), /loopback/);
      assert.equal((await admin.handle(request("/api/clients"), REMOTE)).status, 403);
      assert.equal((await admin.handle(request("/healthz"), REMOTE)).status, 200);
      assert.equal((await admin.handle(request("/readyz"), REMOTE)).status, 200);
      for (const hostname of ["127.0.0.1", "::1", "::ffff:127.0.0.9"]) {
        const res = await admin.handle(request("/metrics"), { hostname, port: 1 });
        assert.equal(res.status, 200, hostname);
      }
    } finally {
      admin.stop();
    }
  });

  test("a loopback client asking under another host name gets 403 (DNS rebinding)", async () => {
    const admin = await adminFor();
    try {
      const rebound = new Request("http://attacker.example:8081/api/clients");
      assert.equal((await admin.handle(rebound, LOCAL)).status, 403);
      const named = new Request("http://localhost:8081/api/clients");
      assert.equal((await admin.handle(named, LOCAL)).status, 200);
    } finally {
      admin.stop();
    }
  });

  test("admin.public-metrics serves /metrics to anyone", async () => {
    const admin = await adminFor({ admin: { "public-metrics": true } });
    try {
      assert.equal((await admin.handle(request("/metrics"), REMOTE)).status, 200);
      assert.equal((await admin.handle(request("/api/clients"), REMOTE)).status, 403);
    } finally {
      admin.stop();
    }
  });

  test("a change from another origin is refused", async () => {
    const admin = await adminFor();
    try {
      const res = await admin.handle(
        request("/api/publish", {
          method: "POST",
          headers: { origin: "http://attacker.example", "content-type": "application/json" },
          body: JSON.stringify({ topic: "a", payload: "x" }),
        }),
        LOCAL,
      );
      assert.equal(res.status, 403);
    } finally {
      admin.stop();
    }
  });

  test("/readyz is 503 when a check fails or throws, naming each check", async () => {
    const admin = await adminFor();
    try {
      admin.readiness.add("store", () => true);
      admin.readiness.add("cluster", () => {
        throw new Error("unreachable");
      });
      const res = await admin.handle(request("/readyz"), REMOTE);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), {
        status: "not ready",
        checks: { store: true, cluster: false },
      });
    } finally {
      admin.stop();
    }
  });
});

describe("with admin users", () => {
  let dir: string;
  let passwordFile: string;
  let scope: AdminBroker;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "admin-users-"));
    passwordFile = join(dir, "passwd");
    writeFileSync(
      passwordFile,
      `alice:${hashPassword("wonderland")}\nbob:${hashPassword("builder")}\n`,
    );
    scope = await startAdminBroker({
      auth: { "password-file": passwordFile },
      admin: { users: ["alice"] },
    });
  });
  after(async () => {
    await scope.broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("says at start who logs in; on loopback it does not warn about plain HTTP", () => {
    assert.ok(
      scope.logger.lines.some((l) => /listener admin: admin users alice log in/.test(l)),
      scope.logger.lines.join("\n"),
    );
    assert.ok(!scope.logger.lines.some((l) => /plain HTTP/.test(l)));
  });

  test("warns when admin passwords would cross the network unencrypted", async () => {
    const logger = memoryLogger();
    const admin = await adminFor({
      auth: { "password-file": passwordFile },
      admin: { users: ["alice"] },
    }, logger);
    try {
      const listener = { name: "web", type: "http" as const, hostname: "0.0.0.0", port: 8081 };
      admin.announce({ ...listener, tls: true });
      assert.ok(!logger.lines.some((l) => /plain HTTP/.test(l)));
      admin.announce({ ...listener, tls: false });
      assert.ok(
        logger.lines.some((l) =>
          /^warn listener web: plain HTTP on 0\.0\.0\.0: admin passwords/.test(l)
        ),
        logger.lines.join("\n"),
      );
    } finally {
      admin.stop();
    }
  });

  test("the dashboard's files are public and locked down by a CSP; its API calls get no dialog", async () => {
    for (const path of ["/", "/dashboard.js", "/dashboard.css"]) {
      const res = await fetch(`${scope.httpUrl}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(
        res.headers.get("content-security-policy")!,
        /default-src 'none'; script-src 'self'/,
      );
      await res.body?.cancel();
    }
    const res = await fetch(`${scope.httpUrl}/api/overview`, {
      headers: { "x-broker-dashboard": "1" },
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), null);
    await res.body?.cancel();
  });

  test("every request needs a login, also from loopback; health stays public", async () => {
    const res = await fetch(`${scope.httpUrl}/api/clients`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate")!, /^Basic realm=/);
    await res.body?.cancel();
    const metrics = await fetch(`${scope.httpUrl}/metrics`);
    assert.equal(metrics.status, 401);
    await metrics.body?.cancel();
    assert.equal((await fetch(`${scope.httpUrl}/healthz`)).status, 200);
  });

  test("basic auth lets the admin in; wrong passwords and non-admins are logged and counted", async () => {
    const ok = await fetch(`${scope.httpUrl}/api/clients`, {
      headers: { authorization: basic("alice", "wonderland") },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { items: [], truncated: false });
    for (const [user, password] of [["alice", "wrong"], ["bob", "builder"], ["eve", "x"]]) {
      const res = await fetch(`${scope.httpUrl}/api/clients`, {
        headers: { authorization: basic(user, password) },
      });
      assert.equal(res.status, 401, user);
      await res.body?.cancel();
      assert.ok(
        scope.logger.lines.some((l) => l.startsWith(`warn admin: failed login as "${user}" from`)),
        user,
      );
    }
    const metrics = await (await fetch(`${scope.httpUrl}/metrics`, {
      headers: { authorization: basic("alice", "wonderland") },
    })).text();
    assert.match(metrics, /^mqtt_admin_login_failures_total 3$/m);
  });

  test("POST /api/login sets a session cookie that works until logout", async () => {
    const login = await fetch(`${scope.httpUrl}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: "alice", password: "wonderland" }),
    });
    assert.equal(login.status, 200);
    const setCookie = login.headers.get("set-cookie")!;
    assert.match(
      setCookie,
      /^broker_admin=[\w-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
    );
    await login.body?.cancel();
    const cookie = setCookie.split(";")[0];
    const sessions = await fetch(`${scope.httpUrl}/api/sessions`, { headers: { cookie } });
    assert.equal(sessions.status, 200);
    await sessions.body?.cancel();
    const logout = await fetch(`${scope.httpUrl}/api/logout`, {
      method: "POST",
      headers: { cookie },
    });
    assert.equal(logout.status, 204);
    const after = await fetch(`${scope.httpUrl}/api/sessions`, { headers: { cookie } });
    assert.equal(after.status, 401);
    await after.body?.cancel();

    const forged = await fetch(`${scope.httpUrl}/api/sessions`, {
      headers: { cookie: "broker_admin=made-up" },
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
  });
});

describe("admin and logging keys", () => {
  test("admin users need a password file; bad values are named", async () => {
    await assert.rejects(
      resolveConfig({ admin: { users: ["alice"] } }),
      /admin\.users: admin users log in with their password from auth\.password-file/,
    );
    await assert.rejects(
      resolveConfig({
        admin: { users: "alice", "public-metric": true },
        "log-level": "loud",
        "log-format": "xml",
      }),
      (error: Error) => {
        assert.match(error.message, /admin\.users: "alice" is not a list of user names/);
        assert.match(error.message, /admin\.public-metric: unknown key/);
        assert.match(error.message, /log-level: "loud" is not debug, info, warn, error or silent/);
        assert.match(error.message, /log-format: "xml" is not text or json/);
        return true;
      },
    );
    const config = await resolveConfig({ "log-level": "debug", "log-format": "json" });
    assert.equal(config.logLevel, "debug");
    assert.equal(config.logFormat, "json");
    assert.deepEqual(config.admin, { users: [], publicMetrics: false });
  });
});
