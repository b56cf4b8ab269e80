import { collectDefaultMetrics, Registry } from "prom-client";

/** Prefix of every metric pvjournal exports, so dashboards can select them at once. */
export const METRIC_PREFIX = "pvjournal_";

/**
 * The metrics of one process. A registry per process (not prom-client's global
 * one) so tests can build several servers side by side without "metric already
 * registered" errors; components add their own gauges and counters to it.
 */
export interface Metrics {
  readonly registry: Registry;
}

/** Builds a registry with the default process metrics (CPU, memory, event loop), prefixed. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return { registry };
}
