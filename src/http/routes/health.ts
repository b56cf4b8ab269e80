/** GET /healthz and GET /readyz: liveness and readiness probes, open without a token. */
import type { FastifyPluginAsync } from "fastify";
import { ErrorCode } from "../../errors.js";
import { sendError } from "../errors.js";
import { errorResponseSchema } from "../schemas.js";

/** Whether the daemon serves its purpose yet (initial scan / catch-up done), and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** Options of the health plugin. */
export interface HealthRoutesOptions {
  /** Asked on every /readyz; must be cheap and must not throw. */
  readonly readiness: () => Readiness;
}

/** Registers /healthz (200 while the process is alive) and /readyz (200 or 503 NOT_READY). */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, opts) => {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "Liveness: 200 while the process is alive",
        tags: ["probes"],
        response: {
          200: {
            type: "object",
            required: ["status"],
            properties: { status: { type: "string", enum: ["ok"] } },
          },
        },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        summary: "Readiness: 200 once the initial scan (sidecar) or catch-up (replica) is done",
        tags: ["probes"],
        response: {
          200: {
            type: "object",
            required: ["ready"],
            properties: { ready: { type: "boolean", enum: [true] } },
          },
          503: errorResponseSchema,
        },
      },
    },
    async (_request, reply) => {
      const state = opts.readiness();
      if (state.ready) return { ready: true as const };
      return sendError(reply, 503, ErrorCode.NOT_READY, state.reason ?? "not ready");
    },
  );
};
