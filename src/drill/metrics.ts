/** Drill metrics: when a drill last passed, how long recovery took, how many passed or failed. */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DrillReport } from "./report.js";

/** Registers the drill metrics; returns the observer a DrillRunner calls per finished drill. */
export function registerDrillMetrics(
  registry: Registry,
  lastPassed: DrillReport | null,
): (r: DrillReport) => void {
  const registers = [registry];
  const lastSuccess = new Gauge({
    name: "pvjournal_drill_last_success_timestamp_seconds",
    help: "When the newest drill that passed finished (unix seconds); alert when it grows old",
    registers,
  });
  const rto = new Gauge({
    name: "pvjournal_drill_rto_seconds",
    help: "Recovery time of the newest drill that passed: request to verified copy",
    registers,
  });
  const rpo = new Gauge({
    name: "pvjournal_drill_rpo_seconds",
    help: "Age of the point drilled by the newest drill that passed, when it started",
    registers,
  });
  const total = new Counter({
    name: "pvjournal_drills_total",
    help: "Drills finished since the daemon started, by result (passed or failed)",
    labelNames: ["result"] as const,
    registers,
  });
  // Both series exist from the start, so a rate() or an absent() alert works before the first drill.
  total.inc({ result: "passed" }, 0);
  total.inc({ result: "failed" }, 0);
  const passed = (r: DrillReport) => {
    if (r.finishedAt) lastSuccess.set(Date.parse(r.finishedAt) / 1000);
    if (r.rtoSeconds !== null) rto.set(r.rtoSeconds);
    if (r.rpoSeconds !== null) rpo.set(r.rpoSeconds);
  };
  if (lastPassed) passed(lastPassed);
  return (r) => {
    total.inc({ result: r.passed ? "passed" : "failed" });
    if (r.passed) passed(r);
  };
}
