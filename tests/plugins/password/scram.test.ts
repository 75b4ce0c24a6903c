import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  createScramEntry,
  deriveScramCredential,
  formatScramEntry,
  parseScramEntry,
  saslprep,
  SCRAM_ENTRY_PREFIX,
  ScramEntryError,
  type ScramFinishResult,
  type ScramLookup,
  ScramServer,
  type ScramStartResult,
  verifyPlainAgainstScram,
} from "../../../src/plugins/password/scram.ts";
import { ScramClient } from "../scram_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);

function continued(result: ScramStartResult): Uint8Array {
  assert.ok("continue" in result, JSON.stringify(result));
  return result.continue;
}

function failed(result: ScramStartResult | ScramFinishResult, code: string, detail?: RegExp) {
  assert.ok("fail" in result, "expected a failure");
  assert.equal(result.fail, code, result.detail);
  if (detail) assert.match(result.detail, detail);
}

const users = new Map<string, string>();
const lookup: ScramLookup = (name) => users.get(name);
const ready = (async () => {
  users.set("alice", await createScramEntry("wonderland"));
  users.set("a,b=c", await createScramEntry("escaped"));
  users.set("bob", "$5$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi.");
})();

async function exchange(client: ScramClient, server = new ScramServer()) {
  const serverFirst = continued(await server.start(client.first(), lookup));
  return { serverFirst, result: server.finish(client.final(serverFirst)) };
}

test("RFC 7677 §3: the server produces the RFC's messages and accepts its client-final", async () => {
  const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
  const entry = formatScramEntry(await deriveScramCredential("pencil", salt, 4096));
  const serverNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const server = new ScramServer({ serverNonce: () => serverNonce });
  const serverFirst = continued(
    await server.start(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), (u) => {
      assert.equal(u, "user");
      return entry;
    }),
  );
  assert.equal(
    decoder.decode(serverFirst),
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  );
  const clientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  // The test client must agree with the RFC too, or the other tests prove nothing.
  const client = new ScramClient("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
  assert.equal(decoder.decode(client.final(serverFirst)), clientFinal);
  const result = server.finish(bytes(clientFinal));
  assert.ok("success" in result, JSON.stringify(result));
  assert.equal(decoder.decode(result.success), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  assert.equal(result.username, "user");
});

test("a full exchange authenticates, and the client can verify the server", async () => {
  await ready;
  for (const [user, password] of [["alice", "wonderland"], ["a,b=c", "escaped"]]) {
    const client = new ScramClient(user, password);
    const { serverFirst, result } = await exchange(client);
    assert.match(decoder.decode(serverFirst), /^r=[^,]+[A-Za-z0-9+/]{24},s=[^,]+,i=4096$/);
    assert.ok("success" in result, JSON.stringify(result));
    assert.equal(result.username, user);
    assert.equal(decoder.decode(result.success), client.serverSignature());
  }
});

test("y,, and an authzid equal to the user name are accepted; another authzid is not", async () => {
  await ready;
  for (const header of ["y,,", "n,a=alice,"]) {
    const { result } = await exchange(new ScramClient("alice", "wonderland", "abc", header));
    assert.ok("success" in result, `${header}: ${JSON.stringify(result)}`);
  }
  const server = new ScramServer();
  failed(
    await server.start(new ScramClient("alice", "wonderland", "abc", "n,a=bob,").first(), lookup),
    "other-error",
    /authorization identity/,
  );
});

test("a wrong password fails at the proof", async () => {
  await ready;
  const { result } = await exchange(new ScramClient("alice", "looking-glass"));
  failed(result, "invalid-proof", /wrong proof/);
});

test("an unknown user gets a server-first like a known user's and fails at the proof", async () => {
  await ready;
  const shape = (text: string) => text.replace(/[A-Za-z0-9+/=]/g, "x");
  const known = decoder.decode(continued(
    await new ScramServer().start(
      new ScramClient("alice", "?", "nonce").first(),
      lookup,
    ),
  ));
  for (const name of ["mallory", "bob"]) {
    const client = new ScramClient(name, "wonderland", "nonce");
    const { serverFirst, result } = await exchange(client);
    const text = decoder.decode(serverFirst);
    assert.equal(shape(text), shape(known), text);
    failed(result, "invalid-proof", /no SCRAM-SHA-256 credential/);
    // The made-up salt is stable per name, as a real one is.
    const again = decoder.decode(continued(await new ScramServer().start(client.first(), lookup)));
    assert.equal(again.split(",")[1], text.split(",")[1]);
  }
  const salts = await Promise.all(["mallory", "trudy"].map(async (name) => {
    const first = await new ScramServer().start(new ScramClient(name, "").first(), lookup);
    return decoder.decode(continued(first)).split(",")[1];
  }));
  assert.notEqual(salts[0], salts[1]);
});

test("a client that requires channel binding is refused", async () => {
  const result = await new ScramServer().start(bytes("p=tls-unique,,n=alice,r=abc"), lookup);
  failed(result, "channel-binding-not-supported");
});

test("client-final must carry this exchange's nonce and GS2 header", async () => {
  await ready;
  const cases: [edit: (nonce: string) => string, code: string][] = [
    [(n) => n.slice(0, -1), "other-error"],
    [(n) => n + "x", "other-error"],
  ];
  for (const [edit, code] of cases) {
    const server = new ScramServer();
    const client = new ScramClient("alice", "wonderland");
    const serverFirst = continued(await server.start(client.first(), lookup));
    failed(server.finish(client.final(serverFirst, edit)), code, /nonce/);
  }
  const server = new ScramServer();
  const client = new ScramClient("alice", "wonderland", "abc", "y,,");
  await server.start(client.first(), lookup);
  failed(
    server.finish(bytes("c=biws,r=abc,p=" + Buffer.alloc(32).toString("base64"))),
    "channel-bindings-dont-match",
  );
});

test("malformed client-first messages fail without throwing", async () => {
  await ready;
  const cases: [message: Uint8Array, code: string][] = [
    [bytes(""), "invalid-encoding"],
    [bytes("x,,n=alice,r=abc"), "invalid-encoding"],
    [bytes("n,n=alice,r=abc"), "invalid-encoding"],
    [bytes("n,,"), "invalid-encoding"],
    [bytes("n,b=alice,n=alice,r=abc"), "invalid-encoding"],
    [bytes("n,,r=abc,n=alice"), "invalid-encoding"],
    [bytes("n,,n=alice"), "invalid-encoding"],
    [bytes("n,,n=alice,r="), "invalid-encoding"],
    [bytes("n,,n=alice,r=ab c"), "invalid-encoding"],
    [bytes("n,,n=alice,r=abc,bad"), "invalid-encoding"],
    [bytes("n,,n=alice,r=abc,x="), "invalid-encoding"],
    [bytes("n,,n=alice\0,r=abc"), "invalid-encoding"],
    [bytes("\uFEFFn,,n=alice,r=abc"), "invalid-encoding"],
    [
      new Uint8Array([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]),
      "invalid-encoding",
    ],
    [bytes("n,,m=ext,n=alice,r=abc"), "extensions-not-supported"],
    [bytes("n,,n=,r=abc"), "invalid-username-encoding"],
    [bytes("n,,n=al=ice,r=abc"), "invalid-username-encoding"],
    [bytes("n,,n=al=2cice,r=abc"), "invalid-username-encoding"],
    [bytes("n,a=al=,n=alice,r=abc"), "invalid-username-encoding"],
    [bytes("n,,n=alice,r=" + "a".repeat(1100)), "other-error"],
  ];
  for (const [message, code] of cases) {
    const server = new ScramServer();
    failed(await server.start(message, lookup), code);
    // The exchange is over after a failure.
    failed(
      await server.start(new ScramClient("alice", "wonderland").first(), lookup),
      "other-error",
    );
  }
  // Optional extensions after the nonce are allowed, and ignored.
  continued(await new ScramServer().start(bytes("n,,n=alice,r=abc,x=1,y=2"), lookup));
});

test("malformed client-final messages fail without throwing", async () => {
  await ready;
  const proof = Buffer.alloc(32).toString("base64");
  const cases: [message: (nonce: string) => string, code: string][] = [
    [() => "", "invalid-encoding"],
    [(n) => `c=biws,r=${n}`, "invalid-encoding"],
    [(n) => `r=${n},c=biws,p=${proof}`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=${proof},x=1`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},bad,p=${proof}`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=${proof.slice(0, -4)}`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=${proof.replace("A", "-")}`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=${proof}\0`, "invalid-encoding"],
    [(n) => `c=biws,r=${n},p=${proof}`, "invalid-proof"],
    [(n) => `c=biws,r=${n},x=${"a".repeat(1100)},p=${proof}`, "other-error"],
    [(n) => `c=eSws,r=${n},p=${proof}`, "channel-bindings-dont-match"],
  ];
  for (const [message, code] of cases) {
    const server = new ScramServer();
    const client = new ScramClient("alice", "wonderland", "abc");
    const serverFirst = decoder.decode(continued(await server.start(client.first(), lookup)));
    const nonce = serverFirst.split(",")[0].slice(2);
    failed(server.finish(bytes(message(nonce))), code);
    failed(server.finish(bytes(message(nonce))), "other-error", /out of order/);
  }
});

test("steps out of order, and a lookup that throws, end the exchange", async () => {
  await ready;
  const early = new ScramServer();
  failed(early.finish(bytes("c=biws,r=abc,p=")), "other-error", /out of order/);
  failed(await early.start(new ScramClient("alice", "x").first(), lookup), "other-error");

  const broken = new ScramServer();
  failed(
    await broken.start(
      new ScramClient("alice", "x").first(),
      () => Promise.reject(new Error("db down")),
    ),
    "other-error",
    /db down/,
  );

  const twice = new ScramServer();
  const client = new ScramClient("alice", "wonderland");
  const serverFirst = continued(await twice.start(client.first(), lookup));
  failed(await twice.start(client.first(), lookup), "other-error", /out of order/);
  failed(twice.finish(client.final(serverFirst)), "other-error", /out of order/);

  const overlapping = new ScramServer();
  const [first, second] = await Promise.all([
    overlapping.start(client.first(), lookup),
    overlapping.start(client.first(), lookup),
  ]);
  failed(first, "other-error", /out of order/);
  failed(second, "other-error", /out of order/);
});

test("the server rejects options out of range", () => {
  assert.throws(() => new ScramServer({ fakeIterations: 0 }), /fakeIterations/);
  assert.throws(() => new ScramServer({ fakeSaltSecret: new Uint8Array() }), /fakeSaltSecret/);
});

test("SASLprep: RFC 4013 §3 examples, spaces, and prohibited characters", () => {
  assert.equal(saslprep("I\u00ADX"), "IX");
  assert.equal(saslprep("user"), "user");
  assert.equal(saslprep("USER"), "USER");
  assert.equal(saslprep("\u00AA"), "a");
  assert.equal(saslprep("\u2168"), "IX");
  assert.equal(saslprep("a\u00A0b\u3000c"), "a b c");
  assert.equal(saslprep("a\u200Bb"), "ab");
  assert.equal(saslprep(""), "");
  for (const bad of ["\u0007", "a\u0085", "\uE000", "\uD800", "\uFDD0", "\u{10FFFF}", "\u202E"]) {
    assert.throws(() => saslprep(bad, "the password"), /^RangeError: the password contains U\+/);
  }
  assert.throws(() => saslprep("\u0007"), /U\+0007, which SASLprep/);
});

test("entries round-trip, and createScramEntry honours its options", async () => {
  const entry = await createScramEntry("pw", { iterations: 5000, saltBytes: 24 });
  assert.match(
    entry,
    /^\$scram-sha-256\$5000\$[A-Za-z0-9+/]{32}\$[A-Za-z0-9+/]{43}=\$[A-Za-z0-9+/]{43}=$/,
  );
  const credential = parseScramEntry(entry);
  assert.equal(credential.iterations, 5000);
  assert.equal(credential.salt.length, 24);
  assert.equal(formatScramEntry(credential), entry);
  assert.notEqual(await createScramEntry("pw"), await createScramEntry("pw"));
  assert.match(await createScramEntry("pw"), /^\$scram-sha-256\$4096\$[^$]{24}\$/);

  for (const options of [{ iterations: 4095 }, { iterations: 1.5 }, { saltBytes: 7 }]) {
    await assert.rejects(createScramEntry("pw", options), RangeError);
  }
  await assert.rejects(createScramEntry("bell\u0007"), /password contains U\+0007/);
  assert.throws(
    () => formatScramEntry({ ...credential, storedKey: new Uint8Array(31) }),
    ScramEntryError,
  );
});

test("malformed entries are refused with a clear error", async () => {
  const [, , count, salt, stored, server] = (await createScramEntry("pw")).split("$");
  const cases: [entry: string, pattern: RegExp][] = [
    [`$7$${count}$${salt}$${stored}`, /does not start with \$scram-sha-256\$/],
    [`${SCRAM_ENTRY_PREFIX}${count}$${salt}$${stored}`, /found 3 fields/],
    [`${SCRAM_ENTRY_PREFIX}${count}$${salt}$${stored}$${server}$x`, /found 5 fields/],
    [`${SCRAM_ENTRY_PREFIX}0$${salt}$${stored}$${server}`, /iteration count/],
    [`${SCRAM_ENTRY_PREFIX}04096$${salt}$${stored}$${server}`, /iteration count/],
    [`${SCRAM_ENTRY_PREFIX}x$${salt}$${stored}$${server}`, /iteration count/],
    [`${SCRAM_ENTRY_PREFIX}99999999$${salt}$${stored}$${server}`, /iterations must be/],
    [`${SCRAM_ENTRY_PREFIX}${count}$$${stored}$${server}`, /salt is not base-64/],
    [`${SCRAM_ENTRY_PREFIX}${count}$${salt}$${stored.slice(0, -1)}$${server}`, /StoredKey is not/],
    [`${SCRAM_ENTRY_PREFIX}${count}$${salt}$${stored}$${server.replace(/.=$/, "_=")}`, /ServerKey/],
    [`${SCRAM_ENTRY_PREFIX}${count}$${salt}$${stored}$${salt}`, /ServerKey must be 32 bytes/],
  ];
  for (const [entry, pattern] of cases) {
    assert.throws(() => parseScramEntry(entry), (e: unknown) => {
      assert.ok(e instanceof ScramEntryError);
      assert.match(e.message, /^invalid SCRAM-SHA-256 entry: /);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes(stored), "the message must not echo the entry");
      return true;
    });
  }
});

test("a plain password is verified against a SCRAM entry", async () => {
  const entry = await createScramEntry("s\u00E9same");
  assert.equal(await verifyPlainAgainstScram("s\u00E9same", entry), true);
  assert.equal(await verifyPlainAgainstScram(bytes("s\u00E9same"), entry), true);
  // SASLprep makes the decomposed spelling the same password.
  assert.equal(await verifyPlainAgainstScram("se\u0301same", entry), true);
  assert.equal(await verifyPlainAgainstScram("sesame", entry), false);
  assert.equal(await verifyPlainAgainstScram("", entry), false);
  assert.equal(await verifyPlainAgainstScram(new Uint8Array([0xff]), entry), false);
  assert.equal(await verifyPlainAgainstScram("s\u00E9same\u0007", entry), false);
  assert.equal(await verifyPlainAgainstScram("s\u00E9same", entry.slice(0, -2)), false);
  assert.equal(
    await verifyPlainAgainstScram(
      "secret",
      "$5$saltstring$C3o4O1TC6aRHF4FI.QSZMXtHbaj2gSXr4sUc/3NcUi.",
    ),
    false,
  );
});
