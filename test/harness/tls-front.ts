/**
 * An HTTPS front for the e2e world, with a certificate from a private CA made by openssl at test
 * time: what a TLS-inspecting proxy or a private endpoint shows a client. Requests go on to
 * `targetUrl` (the gate) unchanged, Host header included, so SigV4 signatures still verify.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forward, HOP_BY_HOP, readBody } from "./proxy.js";

export interface TlsFront {
  /** `https://127.0.0.1:PORT` */
  readonly url: string;
  /** PEM file of the private CA that signed the front's certificate. */
  readonly caFile: string;
  close(): Promise<void>;
}

function makeCertificates(): { dir: string; caFile: string; key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "keyctl-tls-"));
  const at = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=keyctl test CA",
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    at("front.key"),
    "-out",
    at("front.csr"),
  );
  writeFileSync(at("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl(
    "x509",
    "-req",
    "-in",
    at("front.csr"),
    "-CA",
    at("ca.pem"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    at("ext.cnf"),
    "-out",
    at("front.pem"),
  );
  return {
    dir,
    caFile: at("ca.pem"),
    key: readFileSync(at("front.key")),
    cert: readFileSync(at("front.pem")),
  };
}

export async function startTlsFront(targetUrl: string): Promise<TlsFront> {
  const target = new URL(targetUrl);
  const { caFile, key, cert } = makeCertificates();
  const sockets = new Set<Socket>();
  const server: Server = createServer({ key, cert }, (req, res) => {
    void (async () => {
      const up = await forward(target, req, await readBody(req));
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v !== undefined && !HOP_BY_HOP.has(k) && k !== "content-length") headers[k] = v;
      }
      headers["content-length"] = String(up.body.length);
      res.writeHead(up.status, headers);
      res.end(up.body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  server.keepAliveTimeout = 10_000;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  // A client that refuses the certificate just drops the handshake.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
