import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MASK, secretMasker, shellQuote } from "../../../src/commands/handoff.js";

const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

function masked(chunks: readonly string[]): string {
  let out = "";
  const m = secretMasker(SECRET, (t) => {
    out += t;
  });
  for (const c of chunks) m.write(c);
  m.end();
  return out;
}

describe("secretMasker", () => {
  it("masks a secret split across chunks at any points", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.constant(SECRET), fc.string({ maxLength: 12 }), fc.constant(SECRET.slice(0, 15))),
          {
            maxLength: 8,
          },
        ),
        fc.array(fc.nat(), { maxLength: 6 }),
        (parts, cuts) => {
          const text = parts.join("");
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const chunks: string[] = [];
          let from = 0;
          for (const p of points) {
            chunks.push(text.slice(from, p));
            from = p;
          }
          chunks.push(text.slice(from));
          const out = masked(chunks);
          expect(out).toBe(text.split(SECRET).join(MASK));
          expect(out.includes(SECRET)).toBe(false);
        },
      ),
    );
  });

  it("passes text without the secret through unchanged, a lone prefix of it included", () => {
    expect(masked(["key: ", SECRET.slice(0, 20)])).toBe(`key: ${SECRET.slice(0, 20)}`);
    expect(masked(["a", SECRET.slice(0, 9), SECRET.slice(9), "\n"])).toBe(`a${MASK}\n`);
  });
});

describe("shellQuote", () => {
  it("keeps plain words and single-quotes the rest", () => {
    expect(shellQuote("alice")).toBe("alice");
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
  });
});
