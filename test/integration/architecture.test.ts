import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { architectureViolations } from "../helpers/architecture.js";

const SRC = new URL("../../src", import.meta.url).pathname;

describe("the layers of src/", () => {
  it("hold: no circle, no upward import, the SDK only in src/aws, timers only in the clock", () => {
    expect(architectureViolations(SRC)).toEqual([]);
  });

  describe("the check itself finds each kind of break", () => {
    const root = mkdtempSync(join(tmpdir(), "keyctl-arch-"));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const tree = (files: Record<string, string>): string => {
      const dir = mkdtempSync(join(root, "src-"));
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      return dir;
    };

    it("a clean tree passes", () => {
      const dir = tree({
        "errors.ts": "export const a = 1;\n",
        "engine/rotate.ts": 'import { a } from "../errors.js";\nexport const b = a;\n',
        "main.ts": 'await import("./engine/rotate.js");\n',
      });
      expect(architectureViolations(dir)).toEqual([]);
    });

    it("an engine type imported from the CLI layer (even type-only)", () => {
      const dir = tree({
        "cli/args.ts": "export type P = 1;\n",
        "engine/plan.ts": 'import type { P } from "../cli/args.js";\nexport const x: P = 1;\n',
      });
      expect(architectureViolations(dir)).toEqual([
        "upward import: engine/plan.ts (engine) imports cli/args.ts (io)",
      ]);
    });

    it("a circle, dynamic imports included", () => {
      const dir = tree({
        "aws/sdk.ts": 'export const load = () => import("./iam.js");\n',
        "aws/iam.ts": 'export { load } from "./sdk.js";\n',
      });
      expect(architectureViolations(dir)).toEqual(["import circle: aws/iam.ts -> aws/sdk.ts -> aws/iam.ts"]);
    });

    it("the SDK, a timer or the home directory in the engine", () => {
      const dir = tree({
        "engine/rotate.ts": [
          'import { homedir } from "node:os";',
          'import { IAMClient } from "@aws-sdk/client-iam";',
          "export const x = () => setTimeout(() => homedir(), 1);",
          "",
        ].join("\n"),
        "util/clock.ts": "export const sleep = (ms: number) => setTimeout(() => {}, ms);\n",
      });
      expect(architectureViolations(dir).sort()).toEqual([
        "AWS SDK outside src/aws: engine/rotate.ts imports @aws-sdk/client-iam",
        "the engine picks a place itself: engine/rotate.ts uses homedir()",
        "timer outside util/clock.ts: engine/rotate.ts uses setTimeout",
      ]);
    });
  });
});
