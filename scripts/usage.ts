/**
 * `--help` for the scripts: each script's doc comment is its usage.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

/**
 * When `--help` or `-h` is among the arguments, prints the doc comment at the top of the script
 * at `url` (its `import.meta.url`) and exits 0. Call it before `parseArgs`, which would reject
 * the option as unknown.
 */
export function helpOnRequest(url: string, args: readonly string[] = process.argv.slice(2)): void {
  if (!args.includes("--help") && !args.includes("-h")) return;
  const source = readFileSync(fileURLToPath(url), "utf8");
  const doc = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(source)?.[1] ?? "";
  const lines = doc.split("\n").map((line) => line.replace(/^ \* ?/, ""))
    .filter((line) => !line.startsWith("@module"));
  while (lines.at(-1) === "") lines.pop();
  console.log(lines.join("\n"));
  process.exit(0);
}
