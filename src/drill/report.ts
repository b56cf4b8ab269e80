/**
 * A drill's report: the shape the API returns and the store keeps, and the
 * two ways a person reads it: a terminal summary (`pvjournal drill`) and a
 * self-contained HTML page to attach to an audit (`?format=html`).
 */
import { formatBytes as bytes } from "../util/size.js";
import type { MaterialiseMethod } from "./materialise.js";
import type { VerifyOutcome } from "./verify.js";

/** Lifecycle of a drill. `done` means it ran to the end: `passed` says whether it proved the point. */
export const DrillState = {
  queued: "queued",
  running: "running",
  done: "done",
  failed: "failed",
} as const;
/** One of DrillState. */
export type DrillState = (typeof DrillState)[keyof typeof DrillState];

/** Who asked for a drill. */
export type DrillTrigger = "api" | "schedule";

/** The verify command's result as reported: what runVerify returned. */
export type VerifyReport = VerifyOutcome;

/** One drill, as GET /v1/drills/:id answers. */
export interface DrillReport {
  readonly id: string;
  readonly state: DrillState;
  readonly trigger: DrillTrigger;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly point: { readonly seq: number; readonly ts: string; readonly checkpoint: number | null };
  /** Age of the point when the drill started: the data a real failover to it would lose. */
  readonly rpoSeconds: number | null;
  /** From the request to a verified copy (includes queueing): what a real recovery would take. */
  readonly rtoSeconds: number | null;
  readonly materialiseSeconds: number | null;
  readonly method: MaterialiseMethod | null;
  readonly materialise: {
    readonly files: number;
    readonly filesCloned: number;
    readonly bytesWritten: number;
    readonly mirrorSeq: number | null;
    readonly fallback?: string;
  } | null;
  /** null when no verify command ran (then a drill passes if the point materialised). */
  readonly verify: VerifyReport | null;
  /** null until the drill finished. */
  readonly passed: boolean | null;
  readonly keep: boolean;
  /** The sandbox, only when it was kept. */
  readonly sandbox?: string;
  readonly error?: { readonly code: string; readonly message: string };
}

const seconds = (s: number | null): string => (s === null ? "-" : `${s.toFixed(3)} s`);

/** The verdict in one word. */
export function verdict(r: DrillReport): string {
  if (r.passed === true) return "PASSED";
  if (r.passed === false) return "FAILED";
  return r.state.toUpperCase();
}

function pointText(r: DrillReport): string {
  return `${r.point.checkpoint !== null ? `checkpoint ${r.point.checkpoint}, ` : ""}seq ${r.point.seq}, ${r.point.ts}`;
}

function methodText(r: DrillReport): string {
  if (r.method === null || r.materialise === null) return "-";
  const m = r.materialise;
  const noClone = m.fallback ? ` (no clone: ${m.fallback})` : "";
  const how =
    r.method === "full"
      ? `full: ${m.files} files, ${bytes(m.bytesWritten)} written from the journal${noClone}`
      : `${r.method} of the mirror at seq ${m.mirrorSeq}: ${m.filesCloned}/${m.files} files ${r.method === "clone" ? "cloned" : "copied"}, ${bytes(m.bytesWritten)} rewritten from the journal${noClone}`;
  return `${how}, ${seconds(r.materialiseSeconds)}`;
}

function verifyText(r: DrillReport): string {
  const v = r.verify;
  if (!v) return "none (the point materialised)";
  const how = v.timedOut ? "timed out (killed)" : v.error ? v.error : `exit ${v.exitCode}`;
  return `${how} after ${v.seconds.toFixed(3)} s: ${v.command.join(" ")}`;
}

/** A short summary for a terminal. */
export function formatSummary(r: DrillReport): string {
  const lines = [
    `drill ${r.id}: ${verdict(r)}`,
    `  point:        ${pointText(r)}`,
    `  RPO:          ${seconds(r.rpoSeconds)} (age of the point when the drill started)`,
    `  RTO:          ${seconds(r.rtoSeconds)} (request to verified copy)`,
    `  materialised: ${methodText(r)}`,
    `  verify:       ${verifyText(r)}`,
  ];
  if (r.sandbox) lines.push(`  sandbox:      ${r.sandbox} (kept)`);
  if (r.error) lines.push(`  error:        ${r.error.message} (${r.error.code})`);
  const out = r.verify?.output.trimEnd();
  if (out && r.passed === false) {
    lines.push("  verify output (tail):");
    for (const l of out.split("\n").slice(-20)) lines.push(`    ${l}`);
  }
  return `${lines.join("\n")}\n`;
}

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/**
 * One self-contained HTML page (inline CSS, no scripts, no external
 * resources) a person can attach to an audit. Every value is escaped.
 */
export function renderHtml(r: DrillReport, daemon: { role: string; generatedAt: string }): string {
  const e = escapeHtml;
  const row = (k: string, v: string) => `<tr><th>${e(k)}</th><td>${e(v)}</td></tr>`;
  const ok = r.passed === true;
  const rows = [
    row("Drill", r.id),
    row("Result", verdict(r)),
    row("State", r.state),
    row("Triggered by", r.trigger === "schedule" ? "schedule (drills.schedule)" : "API request"),
    row("Point", pointText(r)),
    row("RPO", `${seconds(r.rpoSeconds)} — age of the point when the drill started`),
    row("RTO", `${seconds(r.rtoSeconds)} — from the request to a verified copy`),
    row("Materialised", methodText(r)),
    row("Verify", verifyText(r)),
    row("Requested", r.createdAt),
    row("Started", r.startedAt ?? "-"),
    row("Finished", r.finishedAt ?? "-"),
    row("Sandbox", r.sandbox ? `${r.sandbox} (kept)` : "deleted after the drill"),
    ...(r.error ? [row("Error", `${r.error.message} (${r.error.code})`)] : []),
  ];
  const output = r.verify
    ? `<h2>Verify output (tail)</h2>\n<pre>${e(r.verify.output || "(no output)")}</pre>`
    : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pvjournal drill ${e(r.id)}: ${e(verdict(r))}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; }
.verdict { display: inline-block; padding: .1em .6em; border-radius: .3em; color: #fff; background: ${ok ? "#1a7f37" : r.passed === false ? "#cf222e" : "#6e7781"}; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35em .7em; border-bottom: 1px solid #ddd; }
th { width: 12em; color: #555; font-weight: 600; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
footer { margin-top: 2em; color: #777; font-size: .85em; }
</style>
</head>
<body>
<h1>Failover drill <code>${e(r.id)}</code> <span class="verdict">${e(verdict(r))}</span></h1>
<p>A drill materialises a restore point into an isolated sandbox, runs a verify command against it and records how much data a failover to that point would lose (RPO) and how long recovery took (RTO). It never pauses capture or replication and never writes to a source or the mirror.</p>
<table>
${rows.join("\n")}
</table>
${output}
<footer>pvjournal ${e(daemon.role)} · report generated ${e(daemon.generatedAt)}</footer>
</body>
</html>
`;
}
