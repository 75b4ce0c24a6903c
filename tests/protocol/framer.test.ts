import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PacketFramer } from "../../src/protocol/framer.ts";
import { ProtocolError } from "../../src/protocol/packets.ts";

const ping = Uint8Array.of(0xc0, 0);
function publish(size: number): Uint8Array {
  // PUBLISH QoS 0, topic "t", then `size - 3` payload bytes; remaining length `size`.
  const header = [0x30];
  for (let n = size;; n = Math.floor(n / 128)) {
    header.push((n % 128) | (n >= 128 ? 0x80 : 0));
    if (n < 128) break;
  }
  const out = new Uint8Array(header.length + size);
  out.set(header);
  out.set([0, 1, 0x74], header.length);
  return out;
}

function frames(framer: PacketFramer): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f; (f = framer.next());) out.push(f);
  return out;
}

describe("PacketFramer", () => {
  test("several packets in one chunk", () => {
    const framer = new PacketFramer(1024);
    framer.push(Uint8Array.of(...ping, ...ping, ...publish(10)));
    assert.deepEqual(frames(framer).map((f) => f.length), [2, 2, 12]);
  });

  test("a packet split byte by byte, header included", () => {
    const framer = new PacketFramer(1024);
    const packet = publish(300);
    const got: Uint8Array[] = [];
    for (const byte of packet) {
      framer.push(Uint8Array.of(byte));
      got.push(...frames(framer));
    }
    assert.equal(got.length, 1);
    assert.deepEqual(got[0], packet);
  });

  test("a large packet in big chunks is joined once and intact", () => {
    const framer = new PacketFramer(1 << 20);
    const packet = publish(100_000);
    packet.fill(7, 10);
    for (let i = 0; i < packet.length; i += 4096) framer.push(packet.slice(i, i + 4096));
    const [frame] = frames(framer);
    assert.deepEqual(frame, packet);
  });

  test("an oversized packet is refused from its header alone", () => {
    const framer = new PacketFramer(1000);
    // Remaining length 268,435,455 (the maximum): nothing of the body has arrived.
    framer.push(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f));
    assert.throws(
      () => framer.next(),
      // 0x95, packet too large: what a 5.0 client is told.
      (e) => e instanceof ProtocolError && /exceeds/.test(e.message) && e.code === 0x95,
    );
  });

  test("a remaining length of more than four bytes is malformed", () => {
    const framer = new PacketFramer(1 << 28);
    framer.push(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01));
    assert.throws(() => framer.next(), /malformed remaining length/);
  });
});
