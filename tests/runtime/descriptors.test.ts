import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  descriptorLimit,
  descriptorTableSize,
  descriptorTarget,
  growDescriptorTable,
} from "../../src/runtime/descriptors.ts";
import { runtimeCommand } from "../helpers/broker.ts";

const linux = descriptorTableSize() !== undefined;
const highestOpen = () => Math.max(...readdirSync("/proc/self/fd").map(Number));

test("the table is grown to what is wanted, up to half the soft limit", () => {
  assert.equal(descriptorTarget(4096, 20000), 4096);
  assert.equal(descriptorTarget(4096, 1024), 512);
  assert.equal(descriptorTarget(65536, Infinity), 65536);
  assert.equal(descriptorTarget(4096, 0), 0);
});

test("growing the table holds no descriptor once it has grown", { skip: !linux }, async () => {
  const before = descriptorTableSize()!;
  assert.ok(highestOpen() < before);
  const wanted = before * 2;
  const size = await growDescriptorTable(wanted);
  assert.ok(size !== undefined && size >= wanted, `${size} slots, ${wanted} wanted`);
  // Twice as large as wanted would be a doubling too many (the table grows in powers of two).
  assert.ok(size < wanted * 2, `${size} slots, ${wanted} wanted`);
  assert.equal(descriptorTableSize(), size);
  // What grew it sat above the old table's end; none of it is open.
  assert.ok(highestOpen() < before, `descriptor ${highestOpen()} is still open`);
});

test("a table already large enough is left as it is", { skip: !linux }, async () => {
  const before = descriptorTableSize()!;
  assert.equal(await growDescriptorTable(before / 2), before);
  assert.equal(await growDescriptorTable(before), before);
});

test("a broker grows its process's table to 4,096 by the time it has closed", {
  skip: !linux,
}, async () => {
  // The child inherits this process's limit; half of it is the most the table may grow to.
  const expected = descriptorTarget(4096, descriptorLimit()!);
  const script = fileURLToPath(new URL("../fixtures/descriptor-table.ts", import.meta.url));
  const [cmd, args] = runtimeCommand(script);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(cmd, args, { timeout: 20000 }, (err, stdout) => err ? reject(err) : resolve(stdout))
  );
  const { before, after } = JSON.parse(out) as { before: number; after: number };
  assert.ok(
    after >= expected,
    `${before} slots before the broker, ${after} after, ${expected} wanted`,
  );
});
