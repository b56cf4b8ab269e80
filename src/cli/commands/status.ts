/** `pvjournal status --server URL [--json]`: the daemon's status. */
import type { Command } from "commander";
import type { StatusBody } from "../../http/bodies.js";
import { formatBytes } from "../../util/size.js";
import { apiRequest } from "../api-client.js";
import { parseServerUrl } from "../options.js";

/** Options of `pvjournal status`. */
export interface StatusOptions {
  readonly server: URL;
  readonly json?: boolean;
  readonly tokenFile?: string;
}

/** Formats a status body for a human. */
export function formatStatus(s: StatusBody): string {
  const cp = s.lastCheckpoint as {
    id: number;
    ts: string;
    consistency: string;
    label: string | null;
  } | null;
  const lines = [
    `role:            ${s.role}${s.ready ? "" : " (not ready)"}`,
    `sources:         ${s.sources.map((x) => `${x.name}=${x.path}${x.mountPoint ? ` (served at ${x.mountPoint})` : ""}`).join(", ") || "-"}`,
    `last seq:        ${s.lastSeq}`,
    `last checkpoint: ${cp ? `${cp.id} at ${cp.ts} (${cp.consistency}${cp.label ? `, "${cp.label}"` : ""})` : "none"}`,
    `journal:         ${formatBytes(s.journal.bytes)}${s.journal.sizeLimit > 0 ? ` of ${formatBytes(s.journal.sizeLimit)} limit${s.journal.nearLimit ? " (NEAR LIMIT)" : ""}` : ""}, ${s.journal.oldest ?? "-"} .. ${s.journal.newest ?? "-"}`,
    `lag:             ${s.lagSeconds.toFixed(1)} s`,
  ];
  const capture = s.capture as
    | { mode?: string; degraded?: boolean; lastError?: { message: string } | null }
    | undefined;
  if (capture?.mode) {
    const what =
      capture.mode === "intercept"
        ? "intercept (every write journaled in order; checkpoints crash-consistent)"
        : "watch (checkpoints fuzzy unless a pre hook succeeds)";
    lines.splice(2, 0, `capture:         ${what}`);
    if (capture.degraded)
      lines.push(
        `DEGRADED:        ${capture.lastError?.message ?? "capture is failing and retrying"}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

/** Prints the daemon's status. */
export async function runStatus(opts: StatusOptions): Promise<void> {
  const s = await apiRequest<StatusBody>(
    { server: opts.server, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) },
    "GET",
    "/v1/status",
  );
  process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
}

/** Registers `status` on the program. */
export function registerStatus(program: Command): Command {
  return program
    .command("status")
    .usage("--server URL [--json] [--token-file F]")
    .description("the daemon's status, human-readable (--json for machines)")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--json", "print JSON")
    .option("--token-file <file>", "file holding the API bearer token")
    .action(runStatus);
}
