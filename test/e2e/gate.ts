/**
 * A second, tiny fault layer for the e2e tests, in front of the harness proxy:
 *
 *   keyctl ──▶ gate ──▶ harness proxy (records calls, key states, propagation) ──▶ moto
 *
 * The harness proxy injects faults per action only. Several of the calls a rotation makes share an
 * action (GetCallerIdentity proves the target's owner, the auth identity and, signed by the new key,
 * verifies it; DeleteAccessKey makes room, compensates and retires), so the gate can pick a call by
 * the key that signs it and let the first N matching calls through. It can also answer a call with a
 * fixed document (e.g. a root ARN, which moto cannot produce).
 *
 * Requests are forwarded byte for byte with their Host header, so SigV4 signatures still verify.
 */
import { createServer, type OutgoingHttpHeaders, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  awsQueryErrorXml,
  type FaultKind,
  forward,
  HOP_BY_HOP,
  parseCredentialScope,
  readBody,
} from "../harness/proxy.js";

export interface GateRule {
  /** Query action ("GetCallerIdentity", "DeleteAccessKey", ...) or "*". */
  action: string;
  /** A fault, `respond` to answer with `body`, or `delay` to hold moto's answer back for `ms`. */
  fault: FaultKind | "respond" | "delay";
  /** Only calls signed by this key id (or for which the predicate holds). */
  signer?: string | ((accessKeyId: string) => boolean);
  /** Only calls whose parameters include these values (e.g. `{ AccessKeyId: id }`). */
  params?: Record<string, string>;
  /** Let this many matching calls through before the rule starts to act. */
  skip?: number;
  /** How many calls get the fault (default Infinity). */
  times?: number;
  /** "before" (default): moto never sees the call; "after": moto acts, the answer is lost. */
  when?: "before" | "after";
  /** For `respond`: HTTP status (default 200) and the XML body. */
  status?: number;
  body?: string;
  /** For `delay`. */
  ms?: number;
}

export interface GateCall {
  readonly action: string;
  readonly signer: string;
  /** The SigV4 signing region of the call ("" if unsigned). */
  readonly region: string;
  readonly params: Record<string, string>;
  readonly injected?: GateRule["fault"];
}

export interface Gate {
  readonly url: string;
  readonly calls: readonly GateCall[];
  /** TCP connections keyctl opened to the gate since start or the last reset. */
  readonly connections: number;
  inject(rule: GateRule): void;
  reset(): void;
  close(): Promise<void>;
}

interface LiveRule extends GateRule {
  skipLeft: number;
  left: number;
}

export async function startGate(targetUrl: string): Promise<Gate> {
  const target = new URL(targetUrl);
  let rules: LiveRule[] = [];
  const calls: GateCall[] = [];
  const hung = new Set<Socket>();
  let connections = 0;

  const matches = (r: LiveRule, action: string, signer: string, params: Record<string, string>): boolean =>
    r.left > 0 &&
    (r.action === "*" || r.action === action) &&
    (r.signer === undefined || (typeof r.signer === "string" ? r.signer === signer : r.signer(signer))) &&
    Object.entries(r.params ?? {}).every(([k, v]) => params[k] === v);

  /** The rule that acts on this call, counting skips of every matching rule. */
  function take(action: string, signer: string, params: Record<string, string>): LiveRule | undefined {
    for (const r of rules) {
      if (!matches(r, action, signer, params)) continue;
      if (r.skipLeft > 0) {
        r.skipLeft -= 1;
        continue;
      }
      r.left -= 1;
      return r;
    }
    return undefined;
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? "/", "http://gate.invalid");
      const params: Record<string, string> = Object.fromEntries(url.searchParams);
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
      const action = params.Action ?? "";
      const { accessKeyId: signer, service } = parseCredentialScope(
        req.headers.authorization,
        url.searchParams,
      );
      const rule = take(action, signer, params);
      const region = /Credential=[^/,\s]+\/\d{8}\/([^/]+)\//.exec(req.headers.authorization ?? "")?.[1] ?? "";
      calls.push({ action, signer, region, params, ...(rule ? { injected: rule.fault } : {}) });

      const send = (status: number, xml: string) => {
        const buf = Buffer.from(xml, "utf8");
        res.writeHead(status, { "content-type": "text/xml", "content-length": String(buf.length) });
        res.end(buf);
      };
      const act = (r: LiveRule) => {
        switch (r.fault) {
          case "drop":
            req.socket.destroy();
            return;
          case "hang":
            hung.add(req.socket);
            return;
          case "respond":
            send(r.status ?? 200, r.body ?? "");
            return;
          case "delay":
            return;
          case "throttle":
            send(400, awsQueryErrorXml(service, "Throttling", "Rate exceeded"));
            return;
          case "500":
            send(
              500,
              awsQueryErrorXml(
                service,
                service === "sts" ? "InternalFailure" : "ServiceFailure",
                "Internal failure.",
                "Receiver",
              ),
            );
            return;
          case "accessDenied":
            send(
              403,
              awsQueryErrorXml(
                service,
                "AccessDenied",
                `User is not authorized to perform: ${service}:${action}`,
              ),
            );
            return;
        }
      };

      if (rule && rule.fault !== "delay" && (rule.when ?? "before") === "before") return act(rule);
      const up = await forward(target, req, body);
      if (rule?.fault === "delay") await new Promise((resolve) => setTimeout(resolve, rule.ms ?? 0));
      else if (rule) return act(rule);
      const headers: OutgoingHttpHeaders = {};
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
  // Long enough for keyctl to reuse its connections as it would AWS's: Node's agent does not reuse
  // a socket whose server announced a keep-alive timeout of 1 s or less.
  server.keepAliveTimeout = 10_000;
  // What keyctl itself opens: the gate is the hop it connects to.
  server.on("connection", () => {
    connections += 1;
  });
  const releaseHung = () => {
    for (const socket of hung) socket.destroy();
    hung.clear();
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    get calls() {
      return calls;
    },
    get connections() {
      return connections;
    },
    inject(rule) {
      rules.push({ ...rule, skipLeft: rule.skip ?? 0, left: rule.times ?? Number.POSITIVE_INFINITY });
    },
    reset() {
      releaseHung();
      rules = [];
      calls.length = 0;
      connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        releaseHung();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
