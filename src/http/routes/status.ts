/** GET /v1/status: what the daemon is, how far its journal goes, and how far behind it is. */
import type { FastifyPluginAsync } from "fastify";
import { errorResponseSchema } from "../schemas.js";
import { checkpointSchema } from "./checkpoints.js";

/** The status body (contract: role, sources, lastSeq, lastCheckpoint, journal, lagSeconds). */
export interface StatusBody {
  readonly role: "sidecar" | "replica";
  readonly sources: readonly {
    readonly name: string;
    readonly path: string;
    /** Intercept mode: where the app sees the journaled view of `path`. */
    readonly mountPoint?: string;
  }[];
  readonly lastSeq: number;
  readonly lastCheckpoint: Record<string, unknown> | null;
  readonly journal: {
    readonly bytes: number;
    readonly oldest: string | null;
    readonly newest: string | null;
    readonly sizeLimit: number;
    readonly nearLimit: boolean;
    /** Retention pins held right now (restores, drills, failover, diff, mirror). */
    readonly pins: number;
  };
  /** Age in seconds of the oldest change not yet durable (capture lag on a sidecar, replication lag on a replica). */
  readonly lagSeconds: number;
  readonly ready: boolean;
  readonly [extra: string]: unknown;
}

/** The status route, for buildServer's `routes`. */
export function statusRoutes(status: () => StatusBody): FastifyPluginAsync {
  return async (app) => {
    app.get(
      "/status",
      {
        schema: {
          summary: "Daemon status",
          tags: ["status"],
          response: {
            200: {
              type: "object",
              required: ["role", "sources", "lastSeq", "lastCheckpoint", "journal", "lagSeconds"],
              additionalProperties: true,
              properties: {
                role: { type: "string", enum: ["sidecar", "replica"] },
                sources: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      name: { type: "string" },
                      path: { type: "string" },
                      mountPoint: { type: "string" },
                    },
                  },
                },
                lastSeq: { type: "integer" },
                lastCheckpoint: { anyOf: [checkpointSchema, { type: "null" }] },
                journal: {
                  type: "object",
                  properties: {
                    bytes: { type: "integer" },
                    oldest: { type: ["string", "null"] },
                    newest: { type: ["string", "null"] },
                    sizeLimit: { type: "integer" },
                    nearLimit: { type: "boolean" },
                    pins: {
                      type: "integer",
                      description: "Retention pins held by readers of a point; 0 when idle",
                    },
                  },
                },
                lagSeconds: { type: "number" },
                ready: { type: "boolean" },
              },
            },
            401: errorResponseSchema,
          },
        },
      },
      async () => status(),
    );
  };
}
