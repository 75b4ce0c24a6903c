import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBind } from "../../src/config/bind.ts";

test("host:port with IPv4, names and bracketed IPv6", () => {
  assert.deepEqual(parseBind("127.0.0.1:1883").address, { hostname: "127.0.0.1", port: 1883 });
  assert.deepEqual(parseBind("0.0.0.0:0").address, { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parseBind("localhost:65535").address, { hostname: "localhost", port: 65535 });
  assert.deepEqual(parseBind("mqtt.example.com:8883").address, {
    hostname: "mqtt.example.com",
    port: 8883,
  });
  assert.deepEqual(parseBind("[::1]:1883").address, { hostname: "::1", port: 1883 });
  assert.deepEqual(parseBind("[::]:1883").address, { hostname: "::", port: 1883 });
  assert.deepEqual(parseBind("[fe80::1%eth0]:1883").address, {
    hostname: "fe80::1%eth0",
    port: 1883,
  });
  assert.deepEqual(parseBind("[::ffff:10.0.0.1]:1883").address, {
    hostname: "::ffff:10.0.0.1",
    port: 1883,
  });
  assert.deepEqual(parseBind("[2001:db8:0:0:0:0:0:1]:1").address, {
    hostname: "2001:db8:0:0:0:0:0:1",
    port: 1,
  });
});

test("bad binds are refused, with a hint where one helps", () => {
  assert.deepEqual(parseBind("127.0.0.1:notaport"), {});
  assert.deepEqual(parseBind("127.0.0.1:"), {});
  assert.deepEqual(parseBind("127.0.0.1:-1"), {});
  assert.deepEqual(parseBind("nonsense"), {});
  assert.deepEqual(parseBind("1.2.3.4:70000"), { hint: "the port must be 0 to 65535" });
  assert.deepEqual(parseBind("1883"), { hint: "write the host too, as 0.0.0.0:1883" });
  assert.deepEqual(parseBind(":1883"), {
    hint: "the host is missing; 0.0.0.0 means every interface",
  });
  assert.deepEqual(parseBind("::1:1883"), {
    hint: "write IPv6 addresses in brackets, as [::1]:1883",
  });
  assert.deepEqual(parseBind("999.0.0.1:1883"), {
    hint: "999.0.0.1 is not an IPv4 address or host name",
  });
  assert.deepEqual(parseBind("bad_host:1883"), {
    hint: "bad_host is not an IPv4 address or host name",
  });
  assert.deepEqual(parseBind("[1::2::3]:1883"), { hint: "1::2::3 is not an IPv6 address" });
  assert.deepEqual(parseBind("[1:2:3:4:5:6:7:8:9]:1883"), {
    hint: "1:2:3:4:5:6:7:8:9 is not an IPv6 address",
  });
  assert.deepEqual(parseBind("[localhost]:1883"), { hint: "localhost is not an IPv6 address" });
});
