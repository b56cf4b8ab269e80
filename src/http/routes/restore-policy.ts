/**
 * GET /v1/restore-policy: where restores may write (restore.allowedRoots), so
 * a client (the web console) can show the roots and propose a target below
 * one before it asks for a restore.
 */
import type { FastifyPluginAsync } from "fastify";
import type { TargetPolicy } from "../../restore/target.js";
import { errorResponses } from "./error-responses.js";

/** The restore-policy route, for a daemon's `routes` (part of restoreApiRoutes). */
export function restorePolicyRoutes(policy: TargetPolicy): FastifyPluginAsync {
  return async (app) => {
    app.get(
      "/restore-policy",
      {
        schema: {
          summary: "Where restores may write: restore.allowedRoots",
          tags: ["restores"],
          response: {
            200: {
              type: "object",
              required: ["allowedRoots"],
              properties: {
                allowedRoots: {
                  type: ["array", "null"],
                  items: { type: "string" },
                  description: "Targets must lie below one of these; null = anywhere",
                },
              },
            },
            ...errorResponses({ 401: ["UNAUTHORIZED"] }),
          },
        },
      },
      async () => ({ allowedRoots: policy.allowedRoots }),
    );
  };
}
