import { defineConfig } from "vitest/config";

// A Node version the caller asked for (.ci/run's extra runs): refuse to run on any other, so a green
// run on "Node 24" cannot quietly have been a run on the machine's Node.
const wanted = process.env.KEYCTL_TEST_NODE_MAJOR;
if (wanted && process.versions.node.split(".")[0] !== wanted) {
  throw new Error(`KEYCTL_TEST_NODE_MAJOR=${wanted} but vitest runs on Node ${process.version}`);
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Each file has its own moto, proxy, gate and temp HOMEs, so files share no state (see the
    // projects below for which files also get a process of their own). Most of a file's time is
    // spent waiting on moto and on the CLI children it spawns, so more files than cores overlap
    // those waits (vitest's default on 2 cores is one file at a time).
    maxWorkers: 4,
    env: { AWS_EC2_METADATA_DISABLED: "true", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    projects: [
      // The unit tests run keyctl's modules in the test process, and some of those hold per-process
      // state (whether anything was changed yet, the interrupt bookkeeping): a fresh process per file.
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      // The rest drive keyctl as child processes (or stores of their own), so a worker may run file
      // after file in one process: each file then no longer pays again for vitest's start, the SDK
      // the fixtures import and the moto probe (cached per process), about a fifth of the suite's
      // CPU on this 2-core machine. No test mocks modules, stubs globals or changes process.env.
      {
        extends: true,
        test: { name: "e2e", include: ["test/{e2e,integration,harness}/**/*.test.ts"], isolate: false },
      },
    ],
  },
});
