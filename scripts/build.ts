/**
 * `npm run build`: the npm package's contents in `dist/`.
 *
 * - `dist/cli.js`: the `broker` command for Node, one ESM file with a `#!/usr/bin/env node` line.
 * - `dist/mod.js`: the embedding API (`mod.ts`), one ESM file.
 * - `dist/mod.d.ts` and `dist/src/**\/*.d.ts`: its type declarations.
 *
 * esbuild bundles our own modules (every runtime adapter included, since the selector imports
 * them with literal specifiers) and leaves npm dependencies as imports, so `npm install` resolves
 * them and users get their security fixes without a new release of ours.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = join(root, "dist");

/**
 * Compiler options for declaration emit only. The repository's tsconfig.json says `noEmit` and
 * `allowImportingTsExtensions`, which TypeScript refuses to emit with, so the options are given
 * here instead of a second tsconfig that would drift from the first.
 */
const declarationFlags = [
  "--ignoreConfig",
  "--declaration",
  "--emitDeclarationOnly",
  "--rootDir",
  root,
  "--outDir",
  dist,
  "--target",
  "ES2022",
  "--lib",
  "ES2023,DOM,DOM.Iterable,ESNext.Disposable",
  "--module",
  "ESNext",
  "--moduleResolution",
  "Bundler",
  "--allowImportingTsExtensions",
  "--rewriteRelativeImportExtensions",
  "--verbatimModuleSyntax",
  "--isolatedModules",
  "--strict",
  "--skipLibCheck",
  // `@internal` members (the Broker constructor, which takes the machinery) stay out of the API.
  "--stripInternal",
  "--types",
  "node",
];

// Only our own outputs: `dist/broker` from `npm run compile` survives a build.
for (const stale of ["cli.js", "mod.js", "mod.d.ts", "src"]) {
  rmSync(join(dist, stale), { recursive: true, force: true });
}
const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  packages: "external",
  logLevel: "warning",
  legalComments: "none",
} as const;
await build({
  ...common,
  entryPoints: [join(root, "src/cli.ts")],
  outfile: join(dist, "cli.js"),
  banner: { js: "#!/usr/bin/env node" },
});
chmodSync(join(dist, "cli.js"), 0o755);
await build({ ...common, entryPoints: [join(root, "mod.ts")], outfile: join(dist, "mod.js") });

const tsc = join(root, "node_modules", ".bin", "tsc");
const result = spawnSync(tsc, [...declarationFlags, join(root, "mod.ts")], {
  stdio: "inherit",
  cwd: root,
});
if (result.status !== 0) {
  console.error(`build: tsc exited with ${result.status ?? result.signal}`);
  process.exit(1);
}
console.log(`built ${join(dist, "cli.js")}, ${join(dist, "mod.js")} and their declarations`);
