/** POST /v1/checkpoints (take one, after a settle) and GET /v1/checkpoints (list). */
import type { FastifyPluginAsync } from "fastify";
import { ErrorCode, RequestError } from "../../errors.js";
import type { CheckpointRow } from "../../journal/index-db.js";
import type { Journal } from "../../journal/journal.js";
import { parseTime } from "../../journal/points.js";
import { checkpointBody } from "../bodies.js";
import { errorResponseSchema } from "../schemas.js";

/** What the routes need: the journal to list from, and something that takes checkpoints (null on a replica). */
export interface CheckpointRoutesDeps {
  readonly journal: Journal;
  readonly taker: { take(label: string | null): Promise<CheckpointRow> } | null;
}

/** JSON schema of one checkpoint. */
export const checkpointSchema = {
  type: "object",
  required: ["id", "seq", "ts", "label", "consistency"],
  properties: {
    id: { type: "integer", description: "Checkpoint id, kept across replication" },
    seq: { type: "integer", description: "Journal position the checkpoint covers" },
    ts: { type: "string", format: "date-time" },
    label: { type: ["string", "null"] },
    consistency: {
      type: "string",
      enum: ["app", "crash", "fuzzy"],
      description:
        "app: a pre hook ran and succeeded; crash: intercept mode, every write delivered before the checkpoint and none after (what a power cut leaves); fuzzy: watch mode, each file from some moment of the settle, not safe for multi-file databases",
    },
    hooks: {
      type: "object",
      additionalProperties: {
        type: "object",
        properties: {
          ok: { type: "boolean" },
          exitCode: { type: ["integer", "null"] },
          error: { type: "string" },
          output: { type: "string" },
        },
      },
    },
  },
} as const;

/** Max checkpoints per list answer. */
const MAX_LIMIT = 10_000;

/** The checkpoint routes, for buildServer's `routes`. */
export function checkpointRoutes(deps: CheckpointRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { label?: string | null } | undefined }>(
      "/checkpoints",
      {
        schema: {
          summary:
            "Take a checkpoint: settle (every completed write journaled and fsynced), run hooks, record it",
          tags: ["checkpoints"],
          body: {
            type: "object",
            additionalProperties: false,
            properties: { label: { type: ["string", "null"], maxLength: 200 } },
          },
          response: {
            201: checkpointSchema,
            400: errorResponseSchema,
            401: errorResponseSchema,
            503: errorResponseSchema,
          },
        },
      },
      async (request, reply) => {
        if (!deps.taker) {
          throw new RequestError(
            ErrorCode.BAD_REQUEST,
            "this daemon does not take checkpoints (a replica keeps the sidecar's)",
          );
        }
        const cp = await deps.taker.take(request.body?.label ?? null);
        return reply.code(201).send(checkpointBody(cp));
      },
    );

    app.get<{ Querystring: { from?: string; to?: string; limit?: number } }>(
      "/checkpoints",
      {
        schema: {
          summary: "List checkpoints, oldest first",
          tags: ["checkpoints"],
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: {
              from: { type: "string", description: "ISO 8601 time (inclusive)" },
              to: { type: "string", description: "ISO 8601 time (inclusive)" },
              limit: { type: "integer", minimum: 1, maximum: MAX_LIMIT, default: 1000 },
            },
          },
          response: {
            200: {
              type: "object",
              required: ["checkpoints"],
              properties: { checkpoints: { type: "array", items: checkpointSchema } },
            },
            400: errorResponseSchema,
            401: errorResponseSchema,
          },
        },
      },
      async (request) => {
        const from = request.query.from === undefined ? 0 : parseTime(request.query.from);
        const to =
          request.query.to === undefined ? Number.MAX_SAFE_INTEGER : parseTime(request.query.to);
        const rows = deps.journal.index.checkpoints(from, to, request.query.limit ?? 1000);
        return { checkpoints: rows.map(checkpointBody) };
      },
    );
  };
}
