// Rule 8: several keyctl processes on one file never lose each other's update (lock + re-read).
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { callerIdentity } from "../harness/fixtures.js";
import { keyOf, makeHome, profileText, readProfile, runCli } from "./cli.js";
import { arnOf, expectCleanOutput, holders, keyIds, parseFile, secretsIn, useWorld } from "./world.js";

const w = useWorld();
const USERS = ["u1", "u2", "u3", "u4"];

describe("4 keyctl processes rotating 4 profiles of one file at once", () => {
  for (const mode of ["self", "admin"] as const) {
    it(`all 4 rotations persist, three rounds in a row (${mode})`, async () => {
      const keys = new Map<string, { accessKeyId: string; secretAccessKey: string }>();
      for (const u of USERS) keys.set(u, await w.fx.createUserWithKey(u));
      const admin = await w.fx.createUserWithKey("admin", { policy: "admin" });
      const text = [
        "# shared file\n",
        profileText("admin", admin),
        ...USERS.map(
          (u, i) => `\n; profile ${i}\n${profileText(u, keys.get(u)!, `region = eu-west-${i + 1}\n`)}`,
        ),
        "\n[default]\nregion = us-east-1\n",
      ].join("");
      const { home, credentials } = await makeHome(text);
      w.proxy.setLatency(30); // overlap the four runs' calls

      for (let round = 1; round <= 3; round++) {
        const before = await readFile(credentials, "utf8");
        const olds = new Map(USERS.map((u) => [u, keyOf(parseFile(before).profile(u))]));
        const runs = await Promise.all(
          USERS.map((u) =>
            runCli(mode === "admin" ? ["-a", "admin", "-t", u] : ["-t", u], { home, endpoint: w.endpoint }),
          ),
        );
        const after = await readFile(credentials, "utf8");
        runs.forEach((run, i) => {
          expect(run.status, `round ${round}, ${USERS[i]}: ${run.stderr}`).toBe(0);
          expectCleanOutput(run, [...secretsIn(before), ...secretsIn(after)]);
        });
        const held = holders(after);
        for (const [i, u] of USERS.entries()) {
          const now = keyOf(await readProfile(credentials, u));
          const old = olds.get(u)!;
          expect(now.accessKeyId, `round ${round}: ${u} has a new key`).not.toBe(old.accessKeyId);
          expect(await callerIdentity(w.proxy.url, now)).toBe(arnOf(u));
          const prev = await readProfile(credentials, `${u}-previous`);
          expect(keyOf(prev), `round ${round}: ${u}-previous holds the old key`).toEqual(old);
          expect(prev?.get("region")).toBe(`eu-west-${i + 1}`);
          for (const id of await keyIds(w.fx, u)) expect(held.has(id), `${u}: key ${id} stranded`).toBe(true);
          expect(await keyIds(w.fx, u)).toEqual([old.accessKeyId, now.accessKeyId].sort());
        }
        expect(keyOf(await readProfile(credentials, "admin"))).toEqual(admin);
        expect(after.startsWith("# shared file\n[admin]\n")).toBe(true);
        expect(after).toContain("\n[default]\nregion = us-east-1\n");
        for (const [i] of USERS.entries()) expect(after).toContain(`; profile ${i}\n`);
      }
    });
  }
});
