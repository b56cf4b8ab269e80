/**
 * POST /v1/failover: on a replica, stop following, materialise the point into
 * the mirror (or `target`), mark the replica promoted, answer with the RTO.
 * A sidecar answers 409 NOT_A_REPLICA.
 */
import type { FastifyPluginAsync } from "fastify";
import { type Failover, type FailoverRequest, notAReplica } from "../../replica/failover.js";
import {
  absoluteTarget,
  FIELD_MESSAGES,
  pointFields,
  pointOf,
  targetField,
} from "../request-fields.js";
import { pointSchema } from "../schemas.js";
import { bodyErrors } from "../validation.js";
import { errorResponses } from "./error-responses.js";

/** A POST /v1/failover body as the schema lets it through (null or absent: all defaults). */
type FailoverBody = {
  readonly checkpoint?: number;
  readonly at?: string;
  readonly target?: string | null;
} | null;

/** The failover a schema-valid body asks for. Throws BAD_REQUEST, INVALID_POINT or TARGET_NOT_ALLOWED. Pure. */
function failoverRequestOf(body: FailoverBody): FailoverRequest {
  const b = body ?? {};
  const point = pointOf(b, ["checkpoint", "at"], false);
  const t = b.target;
  return { point, target: t === undefined || t === null ? null : absoluteTarget(t, "failover") };
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
    method: { type: "string", enum: ["forward", "clone", "copy", "full", "unchanged"] },
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
    app.post<{ Body: FailoverBody }>(
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
              ...pointFields,
              target: {
                ...targetField,
                type: ["string", "null"],
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
        schemaErrorFormatter: bodyErrors(FIELD_MESSAGES),
        // Before the schema: a sidecar refuses every failover, whatever the body.
        preValidation: async () => {
          if (!failover) throw notAReplica();
        },
      },
      async (request) => {
        if (!failover) throw notAReplica();
        return failover.run(failoverRequestOf(request.body));
      },
    );
  };
}
