// Bundles the CLI into dist/. The AWS SDK sits behind a dynamic import, so esbuild's code splitting
// puts it in its own chunk that `--help` and `--list` never load.

import { chmodSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { keyctl: "src/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  mainFields: ["module", "main"],
  minify: process.env.KEYCTL_NO_MINIFY !== "1",
  legalComments: "none",
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  banner: {
    js: [
      "#!/usr/bin/env node",
      'import { createRequire as __keyctlCreateRequire } from "node:module";',
      "const require = __keyctlCreateRequire(import.meta.url);",
    ].join("\n"),
  },
  define: { KEYCTL_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
chmodSync(new URL("../dist/keyctl.mjs", import.meta.url), 0o755);
