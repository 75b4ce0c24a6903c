import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decoyHash,
  hashPassword,
  hashScheme,
  hashShape,
  hashVerifier,
  parsePasswordFile,
  shaCrypt,
  verifyPassword,
} from "../../../src/plugins/password/mod.ts";
import { HashPool } from "../../../src/plugins/password/pool.ts";
import { createScramEntry } from "../../../src/plugins/password/scram.ts";
import { turnCounter } from "../helpers.ts";

// Made with `openssl passwd -5/-6 -salt ... PASSWORD` (OpenSSL 3).
const OPENSSL: [password: string, hash: string][] = [
  ["secret", "$5$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi."],
  [
    "secret",
    "$6$saltstring$AIsRs/Ee56G/tC8MEHhvReZTfx8u3rXXMl6eYrjCG9ibix19DxoMBLogdTET5Ukw9Sf7eZTITsuk0Ry5qulYz.",
  ],
  ["secret", "$5$rounds=5000$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi."],
  [
    "secret",
    "$6$rounds=1000$abc$MqEcPZUYRGGcOeq7PhMpfjfu/F0HrVEI0OlZBijWvO8mSG77iNUDP5MqFceKpJTBc8iITVtNyLiNTRNCxv6oh0",
  ],
  [
    "a much longer password that goes well beyond sixty-four bytes in total length, yes",
    "$6$rounds=12345$Xy./Z$aWYCAgaSt0qh46cbA.q9xXxrepdRqmkD8.k6rvKWcH/t7RXFNsabn3M3aSMgCAIQ33qoE74BD55Ms3gRBU0E/.",
  ],
  ["pässwörd-ünïcode", "$5$q1$mu4QfkCHxNIsB6Q/DTu1L0obj/g7SFnlf99URAMXCs4"],
  [
    "This is a password longer than thirty-two bytes",
    "$5$rounds=2000$long.salt.string$UTbl4P5z5pfiA.uJfTRNaW0ATY1sHEEU65UId5rD1l9",
  ],
];

// Made with `mosquitto_passwd -b` (2.0, `$7$`) and `mosquitto_passwd -H sha512 -b` (`$6$`).
const MOSQUITTO: [password: string, hash: string][] = [
  [
    "secret",
    "$7$101$TBMjtGgpMmkr2ZX/$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6+rMeOKbPbAd0FIWEVUM7EmHCBXdlE7IvdUIcqiSwn8Q==",
  ],
  [
    "p@ss wörd",
    "$7$101$xgSbyveXVOJ5u8v4$w65Zw/g1OCPMuk4sLebZa8sVW8vLORkk/0PoVJ7LrTyF2sB38PRUMw7C2HdzKq+ckE+gCxGLRl17bihRnaSG9g==",
  ],
  [
    "",
    "$7$101$/t9eoxMYz/dJx5uE$zU0wE4eiVEhKBHJDdmMfBiE4eiXmYRGri80WoJX/FJB9hlB7Zfu5fA4lFJRpnRIJYfU84NVlovw8+jFvcjIrPA==",
  ],
  [
    "hunter2",
    "$6$0s6U6RR+vK769K8C$PeWuAAdf3DOpSzsPs0Lm/HhhYVGz6Px//bC8gv1zGufa4VC0ot8gBcJvckD1Dzo8qbsw91A+Xr4uuBZ0TCESlQ==",
  ],
];

test("SHA-crypt reproduces openssl passwd -5/-6, with and without rounds", async () => {
  for (const [password, hash] of OPENSSL) {
    assert.equal(shaCrypt(password, hash), hash);
    assert.equal(await verifyPassword(password, hash), true, hash);
    assert.equal(await verifyPassword(password + "x", hash), false, hash);
    assert.equal(await verifyPassword(password.slice(1), hash), false, hash);
  }
});

test("SHA-crypt clamps rounds and cuts long salts as glibc does", () => {
  // openssl passwd -5 -salt 'rounds=10$abc' secret
  assert.equal(
    shaCrypt("secret", "$5$rounds=10$abc"),
    "$5$rounds=1000$abc$Mz4DiYKTnNKbZLo/mIp3d8Y4aQBhv3uhSwxLDy55/Y8",
  );
  // openssl passwd -6 -salt abcdefghijklmnopqrstuv secret
  assert.equal(
    shaCrypt("secret", "$6$abcdefghijklmnopqrstuv"),
    "$6$abcdefghijklmnop$J/AWykHqo2Tx5UtavGnFc3ytI33la50JpzLTarSWVhkIXK6wOjNwwZjsrIw2UgmrER2EKrSHCeQyAINEEXAk1/",
  );
});

test("Mosquitto $7$ (PBKDF2-SHA512) and 1.x $6$ hashes verify", async () => {
  for (const [password, hash] of MOSQUITTO) {
    assert.equal(await verifyPassword(password, hash), true, hash);
    assert.equal(await verifyPassword(password + "!", hash), false, hash);
  }
  assert.equal(await verifyPassword(new TextEncoder().encode("secret"), MOSQUITTO[0][1]), true);
});

test("the two $6$ forms are told apart by their shape", () => {
  assert.equal(hashScheme(OPENSSL[1][1]), "sha512-crypt");
  assert.equal(hashScheme(MOSQUITTO[3][1]), "mosquitto-sha512");
  assert.equal(hashScheme(OPENSSL[0][1]), "sha256-crypt");
  assert.equal(hashScheme(MOSQUITTO[0][1]), "pbkdf2-sha512");
});

test("malformed or unknown hashes are refused and never verify", async () => {
  const bad = [
    "",
    "secret",
    "$1$abc$def",
    "$7$101$TBMjtGgpMmkr2ZX/",
    "$7$0$TBMjtGgpMmkr2ZX/$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6+rMeOKbPbAd0FIWEVUM7EmHCBXdlE7IvdUIcqiSwn8Q==",
    "$7$101$TBMjtGgpMmkr2ZX/$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6",
    "$7$101$!!!!$3PUHy624Kyul1MIyFYC0Gw133yXFWbhAJqhK69mPvl6+rMeOKbPbAd0FIWEVUM7EmHCBXdlE7IvdUIcqiSwn8Q==",
    "$6$saltstring$AIsRs/Ee56G/tC8MEHhvReZTfx8u3rXXMl6eYrjCG9ibix19DxoMBLogdTET5Ukw9Sf7eZTITsuk0Ry5",
    "$5$saltstring$",
    "$5$saltstring",
  ];
  for (const hash of bad) {
    assert.equal(hashScheme(hash), undefined, hash);
    assert.equal(await verifyPassword("secret", hash), false, hash);
  }
  assert.throws(() => shaCrypt("x", "$7$nope"));
});

test("a verifier made once from a hash answers each check as verifyPassword does", async () => {
  const scram = await createScramEntry("pencil");
  const cases: [string, string][] = [...OPENSSL, ...MOSQUITTO, ["pencil", scram]];
  const pool = new HashPool({ size: 1 });
  try {
    for (const [password, hash] of cases) {
      const verify = hashVerifier(hash);
      for (let i = 0; i < 2; i++) {
        assert.equal(await verify(password, pool), true, hash);
        assert.equal(await verify(new TextEncoder().encode(password)), true, hash);
        assert.equal(await verify(password + "x", pool), false, hash);
        assert.equal(await verify(`!${password}`, pool), false, hash);
      }
    }
  } finally {
    await pool.close();
  }
  for (const hash of ["", "$1$abc$def", "$7$101$!!!!$AAAA", "$5$saltstring$"]) {
    assert.equal(await hashVerifier(hash)("secret"), false, hash);
  }
});

test("hashPassword makes fresh hashes of every scheme that verify", async () => {
  for (
    const scheme of ["pbkdf2-sha512", "sha512-crypt", "sha256-crypt", "mosquitto-sha512"] as const
  ) {
    const hash = hashPassword("pw", { scheme });
    assert.equal(hashScheme(hash), scheme);
    assert.equal(await verifyPassword("pw", hash), true);
    assert.equal(await verifyPassword("pW", hash), false);
    assert.notEqual(hashPassword("pw", { scheme }), hash, "salt is random");
  }
  assert.match(hashPassword("pw"), /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
  assert.match(hashPassword("pw", { iterations: 1000 }), /^\$7\$1000\$/);
  assert.match(hashPassword("pw", { scheme: "sha512-crypt", rounds: 2000 }), /^\$6\$rounds=2000\$/);
  assert.throws(() => hashPassword("pw", { iterations: 0 }), RangeError);
});

test("checks on a pool give the same answers and leave the event loop turns", async () => {
  const pool = new HashPool({ size: 2 });
  const counter = turnCounter();
  try {
    const hash = hashPassword("pw", { scheme: "sha512-crypt", rounds: 20_000 });
    const check = verifyPassword("pw", hash, pool);
    assert.equal(await check, true);
    assert.ok(counter.turns >= 2, `other work ran during the check (${counter.turns} turns)`);
    for (const [password, known] of [...OPENSSL, ...MOSQUITTO]) {
      assert.equal(await verifyPassword(password, known, pool), true, known);
      assert.equal(await verifyPassword(password + "x", known, pool), false, known);
    }
    const entry = await createScramEntry("pencil");
    assert.equal(await verifyPassword("pencil", entry, pool), true);
    assert.equal(await verifyPassword("pencil!", entry, pool), false);
  } finally {
    counter.stop();
    await pool.close();
  }
});

test("a decoy has the shape of its model, is fresh each time, and matches no password", async () => {
  const models: [string, string][] = [
    ["pw", hashPassword("pw")],
    ["pw", hashPassword("pw", { iterations: 1000 })],
    ["pw", hashPassword("pw", { scheme: "sha512-crypt" })],
    ["pw", hashPassword("pw", { scheme: "sha256-crypt", rounds: 2000 })],
    ["pw", hashPassword("pw", { scheme: "mosquitto-sha512" })],
    ...OPENSSL.slice(4),
  ];
  for (const [password, model] of models) {
    const decoy = decoyHash(model);
    assert.equal(hashShape(decoy), hashShape(model), model);
    assert.equal(hashScheme(decoy), hashScheme(model), model);
    assert.notEqual(decoyHash(model), decoy, "random salt and digest");
    assert.equal(await verifyPassword(password, decoy), false, model);
    assert.equal(await verifyPassword("", decoy), false, model);
  }
  assert.notEqual(hashShape(hashPassword("pw")), hashShape(hashPassword("pw", { iterations: 9 })));
  assert.notEqual(
    hashShape(hashPassword("pw", { scheme: "sha512-crypt" })),
    hashShape(hashPassword("pw", { scheme: "sha512-crypt", rounds: 6000 })),
  );
  assert.equal(hashShape("secret"), undefined);
  assert.throws(() => decoyHash("secret"), /not a hash/);
});

test("a SCRAM-SHA-256 entry verifies a plain password, has its own shape and decoy", async () => {
  const entry = await createScramEntry("pencil");
  assert.equal(hashScheme(entry), "scram-sha-256");
  assert.equal(await verifyPassword("pencil", entry), true);
  assert.equal(await verifyPassword(new TextEncoder().encode("pencil"), entry), true);
  assert.equal(await verifyPassword("pencil!", entry), false);
  const decoy = decoyHash(entry);
  assert.equal(hashShape(decoy), hashShape(entry));
  assert.equal(hashShape(entry), "scram 4096 16");
  assert.equal(await verifyPassword("pencil", decoy), false);
  assert.deepEqual(parsePasswordFile(`alice:${entry}\nbob:${hashPassword("x")}\n`).size, 2);
});
