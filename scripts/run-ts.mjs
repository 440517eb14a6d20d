// Runs a TypeScript script of this repository (the demo, the benchmark) on plain Node 20: esbuild
// bundles it with its local imports into a temporary module; npm packages stay external.
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error("usage: node scripts/run-ts.mjs FILE.ts [args...]");
  process.exit(2);
}
const root = resolve(import.meta.dirname, "..");
// Inside test/ so that modules which locate the repository from their own URL still find it.
const outdir = mkdtempSync(join(root, "test", ".run-"));
try {
  const outfile = join(outdir, "main.mjs");
  await build({
    entryPoints: [resolve(entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
  process.argv = [process.argv[0], resolve(entry), ...args];
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
