// One HTTP handler per run, shared by every client (IAM, STS for the target and for the auth
// profile, the MFA session, the inner clients of credential providers): its keep-alive agents
// reuse one connection per endpoint, where a handler per client paid a TCP + TLS handshake for
// every client. Every attempt is bounded: the SDK's handler only warns when requestTimeout passes
// unless throwOnRequestTimeout is set, and a network that never answers would hang keyctl.

import { readFileSync } from "node:fs";
import { type ClientRequest, Agent as HttpAgent, type RequestOptions } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { BlockList, isIP } from "node:net";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpProxyAgent } from "http-proxy-agent";
import { HttpsProxyAgent } from "https-proxy-agent";
import { AWS_CALL_TIMEOUT_MS, AWS_CONNECT_TIMEOUT_MS, CALL_TIMEOUT_ENV } from "../engine/ports.js";
import { errnoCode, KeyctlError } from "../errors.js";

/** By CA bundle path ("" for Node's own CAs): a run normally has exactly one. */
const handlers = new Map<string, NodeHttpHandler>();

function checkTimeoutKnob(env: NodeJS.ProcessEnv): void {
  const raw = env[CALL_TIMEOUT_ENV];
  if (raw !== undefined && raw !== "" && String(AWS_CALL_TIMEOUT_MS) !== raw) {
    throw new KeyctlError(
      `${CALL_TIMEOUT_ENV}=${raw} is not a number of milliseconds; unset it or give e.g. ${CALL_TIMEOUT_ENV}=30000.`,
    );
  }
}

function readCaBundle(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new KeyctlError(
      `Cannot read the CA bundle ${path} (AWS_CA_BUNDLE or ca_bundle): ${errnoCode(err) ?? String(err)}; fix the path or unset it.`,
    );
  }
}

// Proxies as the AWS CLI (and curl, npm, gh) read them: HTTPS_PROXY for https endpoints,
// HTTP_PROXY for http ones, either case (lower case wins), NO_PROXY to go direct.

function envVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return env[name.toLowerCase()] || env[name] || undefined;
}

function proxyUrl(env: NodeJS.ProcessEnv, name: string): URL | undefined {
  const raw = envVar(env, name)?.trim();
  if (!raw) return undefined;
  try {
    // "host:3128" without a scheme means an http proxy, as curl takes it.
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
    if (url.protocol === "http:" || url.protocol === "https:") return url;
  } catch {
    // reported below
  }
  throw new KeyctlError(
    `${name} is not an http:// or https:// proxy URL; fix it (e.g. ${name}=http://proxy.example.com:3128) or unset it.`,
  );
}

/**
 * The proxy of the environment that a failed connection (`err`: Node's address, port, hostname) was
 * made to, if any, as the variable and the URL without its credentials.
 */
export function proxyOf(
  err: { readonly address?: unknown; readonly port?: unknown; readonly hostname?: unknown },
  env: NodeJS.ProcessEnv = process.env,
): { variable: string; url: string } | undefined {
  for (const variable of ["HTTPS_PROXY", "HTTP_PROXY"]) {
    let url: URL | undefined;
    try {
      url = proxyUrl(env, variable);
    } catch {
      continue;
    }
    if (!url) continue;
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    const named = err.hostname === host;
    // A host name resolves to an address the error names instead.
    const connected = err.port === port && (err.address === host || isIP(host) === 0);
    if (named || connected) return { variable, url: `${url.protocol}//${url.host}` };
  }
  return undefined;
}

/** NO_PROXY entries: `*`, host names (with their sub-domains), `.suffix`, IPs, CIDR ranges, `:port`. */
export function bypassesProxy(host: string, port: number, noProxy: string | undefined): boolean {
  const name = host.replace(/^\[|\]$/g, "").toLowerCase();
  for (const raw of (noProxy ?? "").split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (withPort) {
      if (Number(withPort[2]) !== port) continue;
      entry = withPort[1]!;
    }
    entry = entry.replace(/^\[|\]$/g, "");
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const family = isIP(cidr[1]!);
      if (family !== 0 && isIP(name) === family) {
        const range = new BlockList();
        const type = family === 6 ? "ipv6" : "ipv4";
        range.addSubnet(cidr[1]!, Number(cidr[2]), type);
        if (range.check(name, type)) return true;
      }
      continue;
    }
    const domain = entry.replace(/^\*?\./, "");
    if (name === domain || (isIP(name) === 0 && name.endsWith(`.${domain}`))) return true;
  }
  return false;
}

/**
 * Sends each request through the proxy or directly, by its host (NO_PROXY); both keep their
 * connections alive. The CA bundle is added per request: a proxy agent's own options do not
 * reach the TLS session it opens to the endpoint through the tunnel.
 */
class RoutingAgent extends HttpAgent {
  // Node's ClientRequest checks both against the URL; @types/node does not declare them.
  readonly protocol: string;
  readonly defaultPort: number;

  constructor(
    protocol: "http:" | "https:",
    private readonly direct: HttpAgent,
    private readonly proxied: HttpAgent | undefined,
    private readonly noProxy: string | undefined,
    private readonly ca: string | undefined,
  ) {
    super({ keepAlive: true });
    this.protocol = protocol;
    this.defaultPort = protocol === "https:" ? 443 : 80;
  }

  addRequest(req: ClientRequest, options: RequestOptions): void {
    const host = options.host ?? options.hostname ?? "";
    const port = Number(options.port) || this.defaultPort;
    const via = this.proxied && !bypassesProxy(host, port, this.noProxy) ? this.proxied : this.direct;
    // addRequest is how agents hand requests on to each other (Node's and agent-base's agents do).
    (via as unknown as { addRequest(r: ClientRequest, o: RequestOptions): void }).addRequest(req, {
      ...options,
      ...(this.ca ? { ca: this.ca } : {}),
    });
  }

  override destroy(): void {
    this.direct.destroy();
    this.proxied?.destroy();
    super.destroy();
  }
}

function agents(env: NodeJS.ProcessEnv, ca: string | undefined) {
  const keepAlive = { keepAlive: true, maxSockets: 50 };
  const httpsProxy = proxyUrl(env, "HTTPS_PROXY");
  const httpProxy = proxyUrl(env, "HTTP_PROXY");
  const noProxy = envVar(env, "NO_PROXY");
  // A proxy reached over https is verified with the same CAs as the endpoints.
  const toProxy = { ...keepAlive, ...(ca ? { ca } : {}) };
  return {
    httpAgent: new RoutingAgent(
      "http:",
      new HttpAgent(keepAlive),
      httpProxy ? new HttpProxyAgent(httpProxy, toProxy) : undefined,
      noProxy,
      undefined,
    ),
    // The handler takes any agent with destroy() as given, an https.Agent or not.
    httpsAgent: new RoutingAgent(
      "https:",
      new HttpsAgent({ ...keepAlive, ...(ca ? { ca } : {}) }),
      httpsProxy ? new HttpsProxyAgent(httpsProxy, toProxy) : undefined,
      noProxy,
      ca,
    ) as unknown as HttpsAgent,
  };
}

export function sharedRequestHandler(
  caBundle?: string,
  env: NodeJS.ProcessEnv = process.env,
): NodeHttpHandler {
  const key = caBundle ?? "";
  let handler = handlers.get(key);
  if (handler) return handler;
  checkTimeoutKnob(env);
  const ca = caBundle ? readCaBundle(caBundle) : undefined;
  handler = new NodeHttpHandler({
    connectionTimeout: AWS_CONNECT_TIMEOUT_MS,
    requestTimeout: AWS_CALL_TIMEOUT_MS,
    // A body that stalls after the headers is bounded too.
    socketTimeout: AWS_CALL_TIMEOUT_MS,
    throwOnRequestTimeout: true,
    ...agents(env, ca),
  });
  handlers.set(key, handler);
  return handler;
}
