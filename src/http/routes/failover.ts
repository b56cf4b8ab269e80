/**
 * POST /v1/failover: on a replica, stop following, materialise the point into
 * the mirror (or `target`), mark the replica promoted, answer with the RTO.
 * A sidecar answers 409 NOT_A_REPLICA.
 */
import { isAbsolute } from "node:path";
import type { FastifyPluginAsync } from "fastify";
import { ErrorCode, RequestError } from "../../errors.js";
import { type Failover, type FailoverRequest, notAReplica } from "../../replica/failover.js";
import { pointSchema } from "../schemas.js";
import { parseOptionalPoint } from "./drill-body.js";
import { errorResponses } from "./error-responses.js";
import { MAX_PATH_LENGTH } from "./restore-body.js";

const KEYS = new Set(["checkpoint", "at", "target"]);

/** Parses `{checkpoint | at ?, target?}` as sent. Pure; throws BAD_REQUEST, INVALID_POINT or TARGET_NOT_ALLOWED. */
export function parseFailoverBody(body: unknown): FailoverRequest {
  const b = body === undefined || body === null ? {} : body;
  if (typeof b !== "object" || Array.isArray(b))
    throw new RequestError(ErrorCode.BAD_REQUEST, "the body must be a JSON object");
  const o = b as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) {
    throw new RequestError(
      ErrorCode.BAD_REQUEST,
      `unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(", ")}`,
    );
  }
  const point = parseOptionalPoint(o);
  if (o.target === undefined || o.target === null) return { point, target: null };
  if (typeof o.target !== "string" || o.target.length === 0 || o.target.length > MAX_PATH_LENGTH)
    throw new RequestError(ErrorCode.BAD_REQUEST, "target must be a non-empty path string");
  if (!isAbsolute(o.target)) {
    throw new RequestError(
      ErrorCode.TARGET_NOT_ALLOWED,
      `failover target ${o.target}: must be an absolute path`,
      { path: o.target },
    );
  }
  return { point, target: o.target };
}

/** JSON schema of the failover report. */
const failoverReportSchema = {
  type: "object",
  required: ["point", "target", "method", "rtoSeconds", "promotedAt"],
  properties: {
    point: pointSchema,
    target: {
      type: "string",
      description: "Where the point is: the mirror directory or the target",
    },
    method: { type: "string", enum: ["forward", "clone", "full", "unchanged"] },
    rtoSeconds: { type: "number", description: "From the request to promoted" },
    materialiseSeconds: { type: "number" },
    rpoSeconds: { type: "number", description: "Age of the point at the request" },
    promotedAt: { type: "string", format: "date-time" },
    mirrorSeqBefore: { type: "integer" },
  },
} as const;

/** The failover route: calls the replica's Failover; null on a sidecar (it answers NOT_A_REPLICA). */
export function failoverRoutes(failover: Failover | null): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: unknown }>(
      "/failover",
      {
        schema: {
          summary:
            "Replica only: stop following the stream, materialise the point into the mirror (or target), mark the replica promoted",
          tags: ["failover"],
          body: {
            type: ["object", "null"],
            additionalProperties: false,
            description: "At most one of checkpoint, at (default: the latest checkpoint)",
            properties: {
              checkpoint: { type: "integer", minimum: 0 },
              at: { type: "string", maxLength: 64 },
              target: {
                type: "string",
                description:
                  "Materialise here (below restore.allowedRoots) instead of into the mirror",
              },
            },
          },
          response: {
            200: failoverReportSchema,
            ...errorResponses({
              400: ["BAD_REQUEST", "INVALID_POINT"],
              401: ["UNAUTHORIZED"],
              403: ["TARGET_NOT_ALLOWED"],
              404: ["CHECKPOINT_NOT_FOUND"],
              409: ["NOT_A_REPLICA", "ALREADY_PROMOTED", "TARGET_NOT_EMPTY"],
              422: ["POINT_OUT_OF_RANGE"],
            }),
          },
        },
        preValidation: async (request) => {
          if (!failover) throw notAReplica();
          parseFailoverBody(request.body);
        },
      },
      async (request) => {
        if (!failover) throw notAReplica();
        return failover.run(parseFailoverBody(request.body));
      },
    );
  };
}
