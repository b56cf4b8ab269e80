/** GET /metrics: Prometheus text format, open without a token (scrapers rarely carry one). */
import type { FastifyPluginAsync } from "fastify";
import type { Metrics } from "../../metrics/registry.js";

/** Options of the metrics plugin. */
export interface MetricsRoutesOptions {
  readonly metrics: Metrics;
}

/** Registers GET /metrics, answering with the registry's own content type. */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  const { registry } = opts.metrics;
  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics (text exposition format)",
        tags: ["probes"],
        response: {
          200: {
            description: "Prometheus text format",
            content: { [registry.contentType]: { schema: { type: "string" } } },
          },
        },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
};
