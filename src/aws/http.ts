// One HTTP handler per run, shared by every client (IAM, STS for the target and for the auth
// profile, the MFA session, the inner clients of credential providers): its keep-alive agents
// reuse one connection per endpoint, where a handler per client paid a TCP + TLS handshake for
// every client. Every attempt is bounded: the SDK's handler only warns when requestTimeout passes
// unless throwOnRequestTimeout is set, and a network that never answers would hang keyctl.

import { readFileSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { NodeHttpHandler } from "@smithy/node-http-handler";
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
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 50 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 50, ...(ca ? { ca } : {}) }),
  });
  handlers.set(key, handler);
  return handler;
}
