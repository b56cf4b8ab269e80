/**
 * Bearer-token auth for the /v1 routes. Comparison is on SHA-256 digests of
 * both sides with timingSafeEqual: equal-length inputs, so neither the token's
 * content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { ErrorCode } from "../errors.js";
import { sendError } from "./errors.js";

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/** True when `presented` equals the expected token, in time independent of both. */
export function tokenMatches(expectedDigest: Buffer, presented: string): boolean {
  return timingSafeEqual(expectedDigest, digest(presented));
}

/**
 * An onRequest hook that answers 401 UNAUTHORIZED (with `WWW-Authenticate:
 * Bearer`) unless the request carries `Authorization: Bearer <token>`.
 */
export function bearerAuth(token: string): onRequestHookHandler {
  const expected = digest(token);
  return function checkBearer(request: FastifyRequest, reply: FastifyReply, done) {
    const header = request.headers.authorization;
    const match = typeof header === "string" ? BEARER.exec(header) : null;
    const presented = match?.[1];
    if (presented === undefined) {
      reply.header("www-authenticate", 'Bearer realm="pvjournal"');
      sendError(reply, 401, ErrorCode.UNAUTHORIZED, "missing bearer token");
      return;
    }
    if (!tokenMatches(expected, presented)) {
      reply.header("www-authenticate", 'Bearer realm="pvjournal", error="invalid_token"');
      sendError(reply, 401, ErrorCode.UNAUTHORIZED, "invalid bearer token");
      return;
    }
    done();
  };
}
