/** `pvjournal checkpoint [--label L]`: ask a running daemon for a checkpoint. */
import type { Command } from "commander";
import { apiRequest } from "../api-client.js";
import { parseServerUrl } from "../options.js";

/** Options of `pvjournal checkpoint`. */
export interface CheckpointOptions {
  readonly label?: string;
  readonly server: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** A checkpoint as the API returns it. */
interface CheckpointAnswer {
  id: number;
  seq: number;
  ts: string;
  label: string | null;
  consistency: string;
  hooks?: Record<string, { ok: boolean; exitCode: number | null; error?: string }>;
}

/** Asks the daemon for a checkpoint; it answers after the settle, so the checkpoint is durable on exit 0. */
export async function runCheckpoint(opts: CheckpointOptions): Promise<void> {
  const cp = await apiRequest<CheckpointAnswer>(
    { server: opts.server, ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) },
    "POST",
    "/v1/checkpoints",
    { label: opts.label ?? null },
  );
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(cp, null, 2)}\n`);
    return;
  }
  const hooks = Object.entries(cp.hooks ?? {})
    .map(
      ([k, v]) =>
        `${k} hook ${v.ok ? "ok" : `FAILED (exit ${v.exitCode ?? "none"}${v.error ? `: ${v.error}` : ""})`}`,
    )
    .join(", ");
  process.stdout.write(
    `checkpoint ${cp.id} at seq ${cp.seq} (${cp.ts}), ${consistencyText(cp.consistency)}${cp.label ? `, label "${cp.label}"` : ""}${hooks ? `; ${hooks}` : ""}\n`,
  );
}

/** Registers `checkpoint` on the program. */
export function registerCheckpoint(program: Command): Command {
  return program
    .command("checkpoint")
    .usage("[--label L] --server URL [--token-file F] [--json]")
    .description("asks a running daemon for a checkpoint")
    .option("--label <label>", "label stored with the checkpoint")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token")
    .option("--json", "print the checkpoint as JSON")
    .action(runCheckpoint);
}

/** How a checkpoint's consistency reads to a person (design.md "Capture modes"). */
export function consistencyText(c: string): string {
  if (c === "fuzzy")
    return "fuzzy (watch mode: files from different moments; not crash-consistent)";
  return `${c}-consistent`;
}
