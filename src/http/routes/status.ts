/** GET /v1/status: what the daemon is, how far its journal goes, and how far behind it is. */
import type { FastifyPluginAsync } from "fastify";
import type { StatusBody } from "../bodies.js";
import { errorResponseSchema } from "../schemas.js";
import { checkpointSchema } from "./checkpoints.js";

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
                    index: {
                      type: "object",
                      description:
                        "The SQLite index on disk (bytes of index.db and its WAL) and the WAL trims after checkpoints: done, busy (a reader elsewhere; retried), failed",
                      properties: {
                        dbBytes: { type: ["integer", "null"] },
                        walBytes: { type: ["integer", "null"] },
                        walTrim: {
                          type: "object",
                          properties: {
                            trims: { type: "integer" },
                            busy: { type: "integer" },
                            failures: { type: "integer" },
                            lastFailure: { type: ["string", "null"] },
                          },
                        },
                      },
                    },
                  },
                },
                retention: {
                  type: "object",
                  description:
                    "Retention since start: passes, folds into a new base, failures (retried) and why, and the first record kept for a replica",
                  properties: {
                    passes: { type: "integer" },
                    folds: { type: "integer" },
                    failures: { type: "integer" },
                    reclaimedBytes: { type: "integer" },
                    lastFoldAt: { type: ["string", "null"] },
                    lastError: { type: ["string", "null"] },
                    heldForReplicasFromSeq: { type: ["integer", "null"] },
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
