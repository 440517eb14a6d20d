// Preloaded into the CLI under test (node --require): logs the path of every file read or opened
// for reading, one per line, to the file named by KEYCTL_TEST_READ_LOG. The ESM bindings of node:fs
// are synced after patching, so the bundle's `import { readFile } from "node:fs/promises"` sees it.
"use strict";
const fs = require("node:fs");
const { syncBuiltinESMExports } = require("node:module");

const log = process.env.KEYCTL_TEST_READ_LOG;
if (log) {
  let busy = false;
  const note = (path) => {
    if (busy || !(typeof path === "string" || path instanceof URL || Buffer.isBuffer(path))) return;
    busy = true;
    try {
      fs.appendFileSync(log, `${String(path instanceof URL ? path.pathname : path)}\n`);
    } finally {
      busy = false;
    }
  };
  const wrap = (owner, name) => {
    const original = owner[name];
    owner[name] = function (path, ...rest) {
      note(path);
      return original.call(this, path, ...rest);
    };
  };
  for (const name of ["readFile", "readFileSync", "open", "openSync", "createReadStream"]) wrap(fs, name);
  for (const name of ["readFile", "open"]) wrap(fs.promises, name);
  syncBuiltinESMExports();
}
