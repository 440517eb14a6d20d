// Bundles test/helpers/store-child.ts (with the real src/store and src/ini code) into one ESM file
// a plain `node` can run, the same way scripts/build.mjs bundles the CLI.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export async function bundleStoreChild(outDir: string): Promise<string> {
  const outfile = join(outDir, "store-child.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("./store-child.ts", import.meta.url))],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    banner: {
      js: 'import { createRequire as __childCreateRequire } from "node:module"; const require = __childCreateRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  return outfile;
}
