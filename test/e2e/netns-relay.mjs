// Runs inside a fresh network namespace (see netns.ts): its only way out is a Unix socket that the
// test process listens on. It listens on 127.0.0.1:PORT, pipes every connection to that socket,
// then runs the command given after "--" and exits with its status.
// Usage: node netns-relay.mjs SOCKET PORT -- COMMAND [ARGS...]
import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";

const [socketPath, port, dashes, command, ...args] = process.argv.slice(2);
if (!socketPath || !port || dashes !== "--" || !command) {
  process.stderr.write("usage: netns-relay.mjs SOCKET PORT -- COMMAND [ARGS...]\n");
  process.exit(2);
}
const server = createServer((inner) => {
  const outer = connect(socketPath);
  inner.pipe(outer);
  outer.pipe(inner);
  inner.on("error", () => outer.destroy());
  outer.on("error", () => inner.destroy());
});
server.listen(Number(port), "127.0.0.1", () => {
  const child = spawn(command, args, { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("close", (status, signal) => {
    server.close();
    process.exit(status ?? (signal === "SIGINT" ? 130 : 143));
  });
});
