/** GET /v1/diff?from=POINT&to=POINT: what changed between two points. */
import type { FastifyPluginAsync } from "fastify";
import type { Journal } from "../../journal/journal.js";
import { parsePoint } from "../../journal/points.js";
import { diffPoints } from "../../restore/diff-journal.js";
import { diffBody } from "../bodies.js";
import { pointSchema } from "../schemas.js";
import { errorResponses } from "./error-responses.js";

/** What the diff route needs. */
export interface DiffRoutesDeps {
  readonly journal: Journal;
  readonly clock?: () => number;
}

const kindSchema = { type: "string", enum: ["file", "dir", "symlink"] } as const;

/** JSON schema of a diff answer. */
export const diffSchema = {
  type: "object",
  required: ["from", "to", "created", "deleted", "renamed", "changed", "summary"],
  properties: {
    from: pointSchema,
    to: pointSchema,
    created: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "kind", "bytes"],
        properties: { path: { type: "string" }, kind: kindSchema, bytes: { type: "integer" } },
      },
    },
    deleted: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "kind"],
        properties: { path: { type: "string" }, kind: kindSchema },
      },
    },
    renamed: {
      type: "array",
      description: "Entries that moved with a renamed directory are implied, not listed",
      items: {
        type: "object",
        required: ["from", "to", "kind"],
        properties: { from: { type: "string" }, to: { type: "string" }, kind: kindSchema },
      },
    },
    changed: {
      type: "array",
      items: {
        type: "object",
        required: [
          "path",
          "kind",
          "changedBytes",
          "sizeBefore",
          "sizeAfter",
          "modeChanged",
          "mtimeChanged",
        ],
        properties: {
          path: { type: "string", description: "Path at `to`" },
          kind: kindSchema,
          changedBytes: {
            type: "integer",
            description: "Bytes of changed blocks (journal.blockSize granularity)",
          },
          sizeBefore: { type: "integer" },
          sizeAfter: { type: "integer" },
          modeChanged: { type: "boolean" },
          mtimeChanged: { type: "boolean" },
        },
      },
    },
    summary: {
      type: "object",
      required: ["created", "deleted", "renamed", "changed", "createdBytes", "changedBytes"],
      properties: {
        created: { type: "integer" },
        deleted: { type: "integer" },
        renamed: { type: "integer" },
        changed: { type: "integer" },
        createdBytes: { type: "integer" },
        changedBytes: { type: "integer" },
      },
    },
  },
} as const;

/** The diff route, for buildServer's `routes`. */
export function diffRoutes(deps: DiffRoutesDeps): FastifyPluginAsync {
  const clock = deps.clock ?? Date.now;
  return async (app) => {
    app.get<{ Querystring: { from: string; to: string } }>(
      "/diff",
      {
        schema: {
          summary: "Files created, deleted, renamed and changed between two points",
          tags: ["restores"],
          querystring: {
            type: "object",
            required: ["from", "to"],
            additionalProperties: false,
            properties: {
              from: {
                type: "string",
                maxLength: 100,
                description: "Older point: cp:ID, seq:N or an ISO 8601 time",
              },
              to: {
                type: "string",
                maxLength: 100,
                description: "Newer point: cp:ID, seq:N or an ISO 8601 time",
              },
            },
          },
          response: {
            200: diffSchema,
            ...errorResponses({
              400: ["BAD_REQUEST (missing point, from later than to)", "INVALID_POINT"],
              401: ["UNAUTHORIZED"],
              404: ["CHECKPOINT_NOT_FOUND"],
              422: ["POINT_OUT_OF_RANGE"],
            }),
          },
        },
      },
      async (request) => {
        const from = parsePoint(request.query.from);
        const to = parsePoint(request.query.to);
        return diffBody(diffPoints(deps.journal, from, to, clock()));
      },
    );
  };
}
