// A child process that drives the real store (bundled by test/helpers/bundle.ts), for the
// integration tests that need separate processes: crash safety (SIGKILL) and lock contention.
//
//   node store-child.mjs flip FILE                      flip the big section A/B forever, "w" per write
//   node store-child.mjs add FILE WHO COUNT             COUNT updates, each adding keys of its own
//   node store-child.mjs hold FILE MS                   take the lock, say "locked", hold it MS
import { CredentialsStore } from "../../src/store/store.js";
import { flipEdit } from "./flip.js";

const [mode, file, ...rest] = process.argv.slice(2);
if (!file) throw new Error("usage: store-child MODE FILE ...");

if (mode === "flip") {
  const store = new CredentialsStore(file);
  process.stdout.write("ready\n");
  for (;;) {
    await store.update(flipEdit);
    process.stdout.write("w\n");
  }
} else if (mode === "add") {
  const who = rest[0]!;
  const count = Number(rest[1]);
  const store = new CredentialsStore(file);
  const section = `sec-${who}`;
  for (let i = 0; i < count; i++) {
    await store.update((doc) => {
      if (!doc.has(section)) doc.putSection(section, []);
      doc.set(section, `k${i}`, `v${i}`);
      doc.set("shared", `${who}_${i}`, `${who}${i}`);
    });
  }
  process.stdout.write("done\n");
} else if (mode === "hold") {
  const ms = Number(rest[0]);
  const store = new CredentialsStore(file);
  await store.withLock(async () => {
    process.stdout.write("locked\n");
    await new Promise((r) => setTimeout(r, ms));
  });
  process.stdout.write("released\n");
} else {
  throw new Error(`unknown mode ${mode}`);
}
