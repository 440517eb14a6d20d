/**
 * A logging forward proxy (node:http only), as a corporate network has: plain-HTTP requests in
 * absolute form and CONNECT tunnels, optionally behind Basic proxy credentials. It logs what it
 * was asked to reach, never the traffic inside a tunnel.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { HOP_BY_HOP } from "./proxy.js";

export interface ProxiedRequest {
  /** "http": a request in absolute form; "connect": a tunnel (https). */
  readonly kind: "http" | "connect";
  /** `http://host:port/path` for http, `host:port` for a tunnel. */
  readonly target: string;
}

export interface ForwardProxy {
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ProxiedRequest[];
  /** Requests refused for missing or wrong proxy credentials. */
  readonly refused: number;
  close(): Promise<void>;
}

export async function startForwardProxy(
  options: { credentials?: { user: string; password: string } } = {},
): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  let refused = 0;
  const sockets = new Set<Socket>();
  const expected = options.credentials
    ? `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString("base64")}`
    : undefined;
  const allowed = (req: IncomingMessage) => !expected || req.headers["proxy-authorization"] === expected;

  const server = createServer((req, res) => {
    if (!allowed(req)) {
      refused++;
      res.writeHead(407, { "proxy-authenticate": 'Basic realm="test"', "content-length": "0" });
      res.end();
      return;
    }
    const target = new URL(req.url ?? "");
    requests.push({ kind: "http", target: target.href });
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && k !== "proxy-authorization") headers[k] = v;
    }
    const up = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers,
      },
      (answer) => {
        const back: OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(answer.headers))
          if (v !== undefined && !HOP_BY_HOP.has(k)) back[k] = v;
        res.writeHead(answer.statusCode ?? 502, back);
        answer.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });

  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (!allowed(req)) {
      refused++;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
      );
      return;
    }
    const target = req.url ?? "";
    requests.push({ kind: "connect", target });
    const [host, port] = [
      target.slice(0, target.lastIndexOf(":")),
      Number(target.slice(target.lastIndexOf(":") + 1)),
    ];
    const upstream = connect(port, host.replace(/^\[|\]$/g, ""), () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
