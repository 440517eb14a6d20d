/**
 * A small fault-injecting HTTP proxy in front of moto (node:http only).
 *
 * Point the CLI under test at `proxy.url` (see motoEnv); the proxy forwards every request to
 * moto unchanged (same method, path, headers incl. Host, so SigV4 signatures still verify) and
 * adds the behaviour moto lacks or that tests need to provoke:
 *
 *  - records every call: `{ action, service, accessKeyId, status, at, ... }` in `proxy.calls`;
 *  - refuses requests signed by keys that are Inactive (moto happily accepts them) or that were
 *    deleted through the proxy, with AWS's 403 `InvalidClientTokenId`;
 *  - IAM eventual consistency: with `setPropagationDelay(ms)`, a key first seen in a
 *    `CreateAccessKey` response is refused (403 `InvalidClientTokenId`) until `ms` after that;
 *  - fault injection per action (`inject`), before or after moto has performed the action;
 *  - added latency per request.
 *
 * NOTE on retries: the AWS SDK (v3, standard retry mode) makes up to 3 attempts by default and
 * retries `Throttling` (400), 5xx and dropped connections (ECONNRESET / "socket hang up").
 * A fault with `times: 1` is therefore usually invisible to a default-configured client: it
 * fails once and then succeeds on the retry. Use `times: 3` (or `Infinity`) to make the CLI
 * actually see the failure, or a client with `maxAttempts: 1`. `accessDenied` and
 * `InvalidClientTokenId` are not retried. Every attempt is a separate entry in `proxy.calls`.
 */
import { randomUUID } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

/**
 * `hang`: accept the request and never answer (a network that hangs). With `when: "after"` moto
 * performs the action first. Hung requests are released (their sockets destroyed) by `reset`/`close`.
 */
export type FaultKind = "throttle" | "500" | "accessDenied" | "drop" | "hang";

export interface FaultSpec {
  /** Query-protocol action name, e.g. "CreateAccessKey"; "*" matches every action. */
  action: string;
  fault: FaultKind;
  /** How many matching requests get the fault (default 1; Infinity allowed). */
  times?: number;
  /**
   * "before" (default): answer with the fault without forwarding (moto never sees the call).
   * "after": forward to moto first (the action really happens), then answer with the fault /
   * drop the connection: "the server did it but the client never heard".
   */
  when?: "before" | "after";
}

/** Why the proxy (rather than moto) produced the answer. */
export type ProxyVerdict =
  | FaultKind
  | "inactive" // signed by a key that is Inactive
  | "deleted" // signed by a key deleted through the proxy
  | "propagating"; // signed by a key younger than the propagation delay

export interface RecordedCall {
  /** `Action` parameter (form body or query string); "" if none. */
  action: string;
  /** Service from the SigV4 credential scope ("iam", "sts"); "" if unsigned. */
  service: string;
  /** Access key id that signed the request; "" if unsigned. */
  accessKeyId: string;
  /** HTTP status the client received; 0 if the connection was dropped. */
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
  /** All request parameters (query string merged with the form body). */
  params: Record<string, string>;
  /** Set when the proxy produced the answer instead of relaying moto's. */
  injected?: ProxyVerdict;
  /** HTTP status moto returned, if the request was forwarded. */
  upstreamStatus?: number;
}

export interface FaultProxy {
  url: string;
  port: number;
  /** Every request seen, in arrival-completion order (live array; do not mutate). */
  readonly calls: readonly RecordedCall[];
  /** TCP connections accepted since start or the last reset. */
  readonly connections: number;
  clearCalls(): void;
  inject(spec: FaultSpec): void;
  clearFaults(): void;
  /** Milliseconds added before handling each request (0 = off). */
  setLatency(ms: number): void;
  /** Milliseconds added before the first request of each new connection (a handshake's cost). */
  setConnectionLatency(ms: number): void;
  /** Keys first seen in a CreateAccessKey response are refused until `ms` after creation. */
  setPropagationDelay(ms: number): void;
  /** Refuse requests signed by `accessKeyId` (e.g. a key deactivated by a fixture directly in moto). */
  markInactive(accessKeyId: string): void;
  /** Undo markInactive (also happens on a successful UpdateAccessKey Status=Active through the proxy). */
  markActive(accessKeyId: string): void;
  /** Refuse requests signed by `accessKeyId` as an unknown key. */
  markDeleted(accessKeyId: string): void;
  /** Clear calls, faults, latency, propagation delay and all learned key state. */
  reset(): void;
  close(): Promise<void>;
}

const IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/";
const ACCOUNT_ID = "123456789012";
export const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

function xmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** AWS query-protocol error document, as IAM/STS send it. */
export function awsQueryErrorXml(
  service: string,
  code: string,
  message: string,
  type: "Sender" | "Receiver" = "Sender",
  requestId: string = randomUUID(),
): string {
  const ns = service === "sts" ? STS_NS : IAM_NS;
  return (
    `<ErrorResponse xmlns="${ns}">\n` +
    `  <Error>\n    <Type>${type}</Type>\n    <Code>${xmlEscape(code)}</Code>\n` +
    `    <Message>${xmlEscape(message)}</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`
  );
}

/** `AWS4-HMAC-SHA256 Credential=AKIA.../20250101/us-east-1/iam/aws4_request, ...` */
export function parseCredentialScope(
  authorization: string | undefined,
  query?: URLSearchParams,
): { accessKeyId: string; service: string } {
  const credential =
    /Credential=([^,\s]+)/.exec(authorization ?? "")?.[1] ?? query?.get("X-Amz-Credential") ?? "";
  const parts = credential.split("/");
  return { accessKeyId: parts[0] ?? "", service: parts.length >= 5 ? (parts[3] ?? "") : "" };
}

function xmlTag(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends the request on to `target` unchanged (the Host header is part of the signature). */
export function forward(target: URL, req: IncomingMessage, body: Buffer): Promise<Upstream> {
  const headers: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  }
  // Keep the original Host header: it is part of the SigV4 signature moto verifies.
  headers["content-length"] = String(body.length);
  return new Promise((resolve, reject) => {
    const up = httpRequest(
      {
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url ?? "/",
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    up.on("error", reject);
    up.end(body);
  });
}

interface FaultRule {
  action: string;
  fault: FaultKind;
  remaining: number;
  when: "before" | "after";
}

/** Start the proxy on a free 127.0.0.1 port, forwarding to `targetUrl` (moto). */
export async function startProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const calls: RecordedCall[] = [];
  let faults: FaultRule[] = [];
  let latencyMs = 0;
  let connectionLatencyMs = 0;
  let connections = 0;
  const seenSockets = new WeakSet<object>();
  const hung = new Set<IncomingMessage>();
  let propagationDelayMs = 0;
  const inactive = new Set<string>();
  const deleted = new Set<string>();
  const createdAt = new Map<string, number>();
  const userOfKey = new Map<string, string>();

  function takeFault(action: string, when: "before" | "after"): FaultRule | undefined {
    const rule = faults.find(
      (f) => f.when === when && f.remaining > 0 && (f.action === "*" || f.action === action),
    );
    if (rule) rule.remaining -= 1;
    return rule;
  }

  function keyVerdict(accessKeyId: string): ProxyVerdict | undefined {
    if (!accessKeyId) return undefined;
    if (deleted.has(accessKeyId)) return "deleted";
    if (inactive.has(accessKeyId)) return "inactive";
    const born = createdAt.get(accessKeyId);
    if (born !== undefined && Date.now() < born + propagationDelayMs) return "propagating";
    return undefined;
  }

  /** Learn key state from a request moto answered successfully. */
  function observe(action: string, params: Record<string, string>, signer: string, up: Upstream): void {
    if (up.status < 200 || up.status >= 300) return;
    const xml = up.body.toString("utf8");
    switch (action) {
      case "CreateAccessKey": {
        const id = xmlTag(xml, "AccessKeyId");
        if (id) {
          createdAt.set(id, Date.now());
          const user = xmlTag(xml, "UserName");
          if (user) userOfKey.set(id, user);
        }
        break;
      }
      case "UpdateAccessKey": {
        const id = params.AccessKeyId;
        if (id && params.Status === "Inactive") inactive.add(id);
        if (id && params.Status === "Active") inactive.delete(id);
        break;
      }
      case "DeleteAccessKey": {
        const id = params.AccessKeyId;
        if (id) {
          deleted.add(id);
          inactive.delete(id);
        }
        break;
      }
      case "GetCallerIdentity": {
        const user = /:user\/(?:.*\/)?([^/<]+)$/.exec(xmlTag(xml, "Arn") ?? "")?.[1];
        if (user && signer) userOfKey.set(signer, user);
        break;
      }
      default:
        break;
    }
  }

  function faultResponse(
    kind: Exclude<FaultKind, "drop" | "hang">,
    service: string,
    action: string,
    signer: string,
  ): { status: number; xml: string } {
    switch (kind) {
      case "throttle":
        return { status: 400, xml: awsQueryErrorXml(service, "Throttling", "Rate exceeded") };
      case "500":
        return service === "sts"
          ? {
              status: 500,
              xml: awsQueryErrorXml(service, "InternalFailure", "Internal failure.", "Receiver"),
            }
          : {
              status: 500,
              xml: awsQueryErrorXml(
                service,
                "ServiceFailure",
                "Request processing has failed due to some unknown error, exception or failure.",
                "Receiver",
              ),
            };
      case "accessDenied": {
        const user = userOfKey.get(signer) ?? "unknown";
        const svc = service || "iam";
        const message =
          `User: arn:aws:iam::${ACCOUNT_ID}:user/${user} is not authorized to perform: ${svc}:${action} ` +
          `on resource: ${svc === "iam" ? `user ${user}` : "*"} because no identity-based policy allows the ` +
          `${svc}:${action} action`;
        return { status: 403, xml: awsQueryErrorXml(service, "AccessDenied", message) };
      }
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const body = await readBody(req);
    const reqUrl = new URL(req.url ?? "/", "http://proxy.invalid");
    const params: Record<string, string> = Object.fromEntries(reqUrl.searchParams);
    const contentType = req.headers["content-type"] ?? "";
    if (contentType.includes("application/x-www-form-urlencoded") || (!contentType && body.length > 0)) {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString("utf8"))));
    }
    const action = params.Action ?? "";
    const { accessKeyId, service } = parseCredentialScope(req.headers.authorization, reqUrl.searchParams);
    const record: RecordedCall = { action, service, accessKeyId, status: 0, at, params };

    const reply = (status: number, headers: OutgoingHttpHeaders, payload: Buffer | string) => {
      record.status = status;
      calls.push(record);
      const buf = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
      res.writeHead(status, { ...headers, "content-length": String(buf.length) });
      res.end(buf);
    };
    const replyError = (status: number, xml: string) => {
      const requestId = /<RequestId>([^<]*)<\/RequestId>/.exec(xml)?.[1] ?? randomUUID();
      reply(status, { "content-type": "text/xml", "x-amzn-requestid": requestId }, xml);
    };
    const drop = () => {
      record.status = 0;
      calls.push(record);
      req.socket.destroy();
    };
    const applyFault = (rule: FaultRule) => {
      record.injected = rule.fault;
      if (rule.fault === "drop") return drop();
      if (rule.fault === "hang") {
        record.status = 0;
        calls.push(record);
        hung.add(req);
        return;
      }
      const f = faultResponse(rule.fault, service, action, accessKeyId);
      replyError(f.status, f.xml);
    };

    // A new connection costs what a TCP + TLS handshake costs on a real network.
    if (!seenSockets.has(req.socket)) {
      seenSockets.add(req.socket);
      if (connectionLatencyMs > 0) await sleep(connectionLatencyMs);
    }
    if (latencyMs > 0) await sleep(latencyMs);

    const verdict = keyVerdict(accessKeyId);
    if (verdict) {
      record.injected = verdict;
      replyError(
        403,
        awsQueryErrorXml(
          service,
          "InvalidClientTokenId",
          "The security token included in the request is invalid.",
        ),
      );
      return;
    }

    const before = takeFault(action, "before");
    if (before) return applyFault(before);

    let up: Upstream;
    try {
      up = await forward(target, req, body);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      replyError(
        502,
        awsQueryErrorXml(service, "ProxyUpstreamError", `moto unreachable: ${msg}`, "Receiver"),
      );
      return;
    }
    record.upstreamStatus = up.status;
    observe(action, params, accessKeyId, up);

    const after = takeFault(action, "after");
    if (after) return applyFault(after);

    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k) && k !== "content-length") headers[k] = v;
    }
    reply(up.status, headers, up.body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const msg = err instanceof Error ? err.message : String(err);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`keyctl test proxy error: ${msg}`);
      }
    });
  });
  // Node's agent never reuses a socket whose server announces a keep-alive of 1 s or less: a longer
  // one lets clients reuse connections as they would AWS's (what setConnectionLatency prices).
  server.keepAliveTimeout = 10_000;
  server.on("connection", () => {
    connections += 1;
  });
  const releaseHung = () => {
    for (const req of hung) req.socket.destroy();
    hung.clear();
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get calls() {
      return calls;
    },
    get connections() {
      return connections;
    },
    clearCalls() {
      calls.length = 0;
    },
    inject(spec: FaultSpec) {
      const times = spec.times ?? 1;
      if (!(times > 0)) throw new Error(`inject: times must be > 0 (got ${times})`);
      faults.push({ action: spec.action, fault: spec.fault, remaining: times, when: spec.when ?? "before" });
    },
    clearFaults() {
      faults = [];
    },
    setLatency(ms: number) {
      latencyMs = Math.max(0, ms);
    },
    setConnectionLatency(ms: number) {
      connectionLatencyMs = Math.max(0, ms);
    },
    setPropagationDelay(ms: number) {
      propagationDelayMs = Math.max(0, ms);
    },
    markInactive(id: string) {
      inactive.add(id);
    },
    markActive(id: string) {
      inactive.delete(id);
    },
    markDeleted(id: string) {
      deleted.add(id);
      inactive.delete(id);
    },
    reset() {
      releaseHung();
      calls.length = 0;
      connections = 0;
      faults = [];
      latencyMs = 0;
      connectionLatencyMs = 0;
      propagationDelayMs = 0;
      inactive.clear();
      deleted.clear();
      createdAt.clear();
      userOfKey.clear();
    },
    close() {
      releaseHung();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
