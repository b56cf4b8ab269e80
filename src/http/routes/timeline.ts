/** GET /v1/timeline?from&to: checkpoints and the amount of change per interval. */
import type { FastifyPluginAsync } from "fastify";
import { ErrorCode, RequestError } from "../../errors.js";
import type { Journal } from "../../journal/journal.js";
import { parseTime } from "../../journal/points.js";
import { readTimeline } from "../../restore/timeline.js";
import { checkpointBody } from "../bodies.js";
import { checkpointSchema } from "./checkpoints.js";
import { errorResponses } from "./error-responses.js";

/** What the timeline route needs. */
export interface TimelineRoutesDeps {
  readonly journal: Journal;
  readonly clock?: () => number;
}

function timeParam(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  try {
    return parseTime(text);
  } catch {
    throw new RequestError(
      ErrorCode.BAD_REQUEST,
      `${name} must be an ISO 8601 time with a zone, e.g. 2026-11-25T12:00:00.000Z`,
    );
  }
}

/** The timeline route, for buildServer's `routes`. */
export function timelineRoutes(deps: TimelineRoutesDeps): FastifyPluginAsync {
  const clock = deps.clock ?? Date.now;
  return async (app) => {
    app.get<{ Querystring: { from?: string; to?: string } }>(
      "/timeline",
      {
        schema: {
          summary:
            "Checkpoints and the amount of change per interval (at most 100 round-sized buckets)",
          tags: ["restores"],
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: {
              from: {
                type: "string",
                maxLength: 64,
                description: "ISO 8601 time; default: the oldest restorable point",
              },
              to: { type: "string", maxLength: 64, description: "ISO 8601 time; default: now" },
            },
          },
          response: {
            200: {
              type: "object",
              required: [
                "from",
                "to",
                "bucketSeconds",
                "checkpoints",
                "checkpointsTruncated",
                "buckets",
              ],
              properties: {
                from: { type: "string", format: "date-time" },
                to: { type: "string", format: "date-time" },
                bucketSeconds: { type: "number" },
                checkpoints: {
                  type: "array",
                  items: checkpointSchema,
                  description: "Oldest first, at most 1000",
                },
                checkpointsTruncated: { type: "boolean" },
                buckets: {
                  type: "array",
                  description:
                    "Aligned to multiples of bucketSeconds (UTC); counts cover only [from, to]",
                  items: {
                    type: "object",
                    required: [
                      "start",
                      "end",
                      "records",
                      "bytesWritten",
                      "filesChanged",
                      "checkpoints",
                    ],
                    properties: {
                      start: { type: "string", format: "date-time" },
                      end: { type: "string", format: "date-time", description: "Exclusive" },
                      records: { type: "integer" },
                      bytesWritten: { type: "integer", description: "Sum of block write lengths" },
                      filesChanged: { type: "integer" },
                      checkpoints: { type: "integer" },
                    },
                  },
                },
              },
            },
            ...errorResponses({
              400: ["BAD_REQUEST (bad time, from later than to)"],
              401: ["UNAUTHORIZED"],
            }),
          },
        },
      },
      async (request) => {
        const now = clock();
        const oldest = deps.journal.window()?.oldestTs ?? now;
        const from = timeParam(request.query.from, "from", Math.min(oldest, now));
        const to = timeParam(request.query.to, "to", now);
        if (from > to) throw new RequestError(ErrorCode.BAD_REQUEST, "from is later than to");
        const t = readTimeline(deps.journal.index, from, to);
        return {
          from: new Date(t.from).toISOString(),
          to: new Date(t.to).toISOString(),
          bucketSeconds: t.bucketMs / 1000,
          checkpoints: t.checkpoints.map(checkpointBody),
          checkpointsTruncated: t.checkpointsTruncated,
          buckets: t.buckets.map((b) => ({
            ...b,
            start: new Date(b.start).toISOString(),
            end: new Date(b.end).toISOString(),
          })),
        };
      },
    );
  };
}
