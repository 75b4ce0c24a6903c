/**
 * Copies the version from package.json into src/version.ts and deno.json; `npm version` runs it.
 */
import { readFileSync, writeFileSync } from "node:fs";

const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
const versionFile = "src/version.ts";
writeFileSync(
  versionFile,
  readFileSync(versionFile, "utf8").replace(/VERSION = "[^"]*"/, `VERSION = "${version}"`),
);
const deno = JSON.parse(readFileSync("deno.json", "utf8")) as { version: string };
deno.version = version;
writeFileSync("deno.json", JSON.stringify(deno, null, 2) + "\n");
console.log(`version ${version} written to ${versionFile} and deno.json`);
