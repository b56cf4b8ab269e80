/**
 * Bearer-token auth and roles for the /v1 routes. Comparison is on SHA-256
 * digests of both sides with timingSafeEqual: equal-length inputs, so neither
 * a token's content nor its length leaks through timing. Every configured
 * token is compared on every request (no early exit), so timing does not
 * tell which role a guess came close to either.
 *
 * Roles: `operator` (api.tokenFile) may use every route; `read`
 * (api.readTokenFile) only GET/HEAD routes other than the change stream (the
 * stream carries the volume's bytes); `replica` (api.replicaTokenFile, on a
 * sidecar) only the stream and its ack.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { ErrorCode } from "../errors.js";
import { sendError } from "./errors.js";

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The tokens a daemon accepts, by role; operator is required, the others optional. */
export interface ApiTokens {
  readonly operator: string;
  readonly read?: string | null;
  readonly replica?: string | null;
}

/** What a token may do. */
export type TokenRole = "operator" | "read" | "replica";

/** Route patterns (relative to /v1) a replica token may use, by method. */
const REPLICA_ROUTES: ReadonlySet<string> = new Set([
  "GET /v1/stream",
  "POST /v1/replicas/:id/ack",
]);

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** True when `presented` equals the expected token, in time independent of both. */
export function tokenMatches(expectedDigest: Buffer, presented: string): boolean {
  return timingSafeEqual(expectedDigest, digest(presented));
}

/** Whether `role` may call `method` on the route pattern `url` (undefined: no such route). Pure. */
export function roleAllows(role: TokenRole, method: string, url: string | undefined): boolean {
  if (role === "operator") return true;
  // Unknown paths answer 404 to every valid token alike.
  if (url === undefined) return true;
  if (role === "replica") return REPLICA_ROUTES.has(`${method} ${url}`);
  return (method === "GET" || method === "HEAD") && !url.startsWith("/v1/stream");
}

/** Normalises the ServerDeps token setting: a bare string is an operator token. */
export function toTokens(token: string | ApiTokens | null): ApiTokens | null {
  return typeof token === "string" ? { operator: token } : token;
}

/**
 * An onRequest hook that answers 401 UNAUTHORIZED (with `WWW-Authenticate:
 * Bearer`) unless the request carries a known token, and 403 FORBIDDEN when
 * the token's role does not allow the route.
 */
export function bearerAuth(token: string | ApiTokens): onRequestHookHandler {
  const tokens = toTokens(token) as ApiTokens;
  const expected: [TokenRole, Buffer][] = [["operator", digest(tokens.operator)]];
  if (tokens.read) expected.push(["read", digest(tokens.read)]);
  if (tokens.replica) expected.push(["replica", digest(tokens.replica)]);
  return function checkBearer(request: FastifyRequest, reply: FastifyReply, done) {
    const header = request.headers.authorization;
    const match = typeof header === "string" ? BEARER.exec(header) : null;
    const presented = match?.[1];
    if (presented === undefined) {
      reply.header("www-authenticate", 'Bearer realm="pvjournal"');
      sendError(reply, 401, ErrorCode.UNAUTHORIZED, "missing bearer token");
      return;
    }
    const presentedDigest = digest(presented);
    let role: TokenRole | null = null;
    for (const [r, d] of expected) {
      if (timingSafeEqual(d, presentedDigest) && role === null) role = r;
    }
    if (role === null) {
      reply.header("www-authenticate", 'Bearer realm="pvjournal", error="invalid_token"');
      sendError(reply, 401, ErrorCode.UNAUTHORIZED, "invalid bearer token");
      return;
    }
    if (!roleAllows(role, request.method, request.routeOptions.url)) {
      sendError(
        reply,
        403,
        ErrorCode.FORBIDDEN,
        `a ${role} token may not ${request.method} this route (api.tokenFile holds the operator token)`,
      );
      return;
    }
    done();
  };
}
