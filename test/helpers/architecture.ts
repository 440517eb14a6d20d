// The layering rules of src/ (ARCHITECTURE.md), checked over the import graph that the TypeScript
// parser reads from the sources: static, type-only and dynamic imports and re-exports all count.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Low to high: a file may import from its own layer or a lower one, never from a higher one. */
export const LAYERS: readonly { readonly name: string; readonly paths: readonly string[] }[] = [
  { name: "base", paths: ["errors.ts", "util/"] },
  { name: "ini", paths: ["ini/", "profiles.ts"] },
  { name: "ports", paths: ["engine/ports.ts", "engine/messages.ts"] },
  { name: "adapters", paths: ["store/", "aws/"] },
  { name: "engine", paths: ["engine/"] },
  { name: "io", paths: ["cli/"] },
  { name: "commands", paths: ["commands/"] },
  { name: "main", paths: ["main.ts"] },
];

/** The only file that may start a timer; everything else waits through its Clock. */
export const CLOCK_MODULE = "util/clock.ts";

const SDK = /^@(aws-sdk|smithy)\//;
const TIMERS = new Set(["setTimeout", "setInterval"]);
const HOME_AND_TEMP = new Set(["homedir", "tmpdir"]);

export function layerOf(file: string): number {
  // The first match wins: engine/ports.ts is "ports" before engine/ is "engine".
  const i = LAYERS.findIndex((l) => l.paths.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p)));
  if (i < 0)
    throw new Error(`src/${file} belongs to no layer; add it to LAYERS in test/helpers/architecture.ts`);
  return i;
}

function sourceFiles(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(root, path);
    return e.name.endsWith(".ts") ? [relative(root, path)] : [];
  });
}

interface Scan {
  readonly imports: string[];
  readonly identifiers: Set<string>;
}

function scan(text: string, fileName: string): Scan {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const imports: string[] = [];
  const identifiers = new Set<string>();
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) imports.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      imports.push(node.arguments[0].text);
    } else if (ts.isIdentifier(node)) {
      identifiers.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { imports, identifiers };
}

/** Every broken rule in the tree under `root` (src/), one line each; empty when the layers hold. */
export function architectureViolations(root: string): string[] {
  const files = sourceFiles(root).sort();
  const graph = new Map<string, string[]>();
  const problems: string[] = [];
  for (const file of files) {
    const { imports, identifiers } = scan(readFileSync(join(root, file), "utf8"), file);
    const local: string[] = [];
    for (const spec of imports) {
      if (spec.startsWith(".")) {
        const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, ".ts");
        local.push(target);
        if (layerOf(target) > layerOf(file)) {
          problems.push(
            `upward import: ${file} (${LAYERS[layerOf(file)]!.name}) imports ${target} (${LAYERS[layerOf(target)]!.name})`,
          );
        }
      } else if (SDK.test(spec) && !file.startsWith("aws/")) {
        problems.push(`AWS SDK outside src/aws: ${file} imports ${spec}`);
      }
    }
    graph.set(file, local);
    if (file !== CLOCK_MODULE) {
      for (const name of identifiers) {
        if (TIMERS.has(name)) problems.push(`timer outside ${CLOCK_MODULE}: ${file} uses ${name}`);
      }
    }
    if (file.startsWith("engine/")) {
      for (const name of identifiers) {
        if (HOME_AND_TEMP.has(name)) problems.push(`the engine picks a place itself: ${file} uses ${name}()`);
      }
    }
  }
  problems.push(...circles(graph).map((c) => `import circle: ${c.join(" -> ")}`));
  return problems;
}

/** Each import circle once, as the files along it (the first repeated at the end). */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const done = new Set<string>();
  const path: string[] = [];
  const walk = (file: string): void => {
    if (done.has(file)) return;
    const at = path.indexOf(file);
    if (at >= 0) {
      const circle = [...path.slice(at), file];
      const key = [...circle.slice(0, -1)].sort().join(" ");
      if (!seen.has(key)) {
        seen.add(key);
        found.push(circle);
      }
      return;
    }
    path.push(file);
    for (const next of graph.get(file) ?? []) walk(next);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) walk(file);
  return found;
}
