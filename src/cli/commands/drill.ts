/**
 * `pvjournal drill [--checkpoint ID | --at TIME] [--verify CMD] [--keep]`:
 * runs a failover drill through a daemon's API, follows it, prints the
 * report; exit 0 only if the drill passed.
 *
 * --verify takes one shell command line and runs it as ["sh", "-c", CMD] in
 * the sandbox: quoting, pipes and `$PVJ_DRILL_DIR` work as typed, e.g.
 * --verify 'sqlite3 "$PVJ_DRILL_DIR/data/db.sqlite" "PRAGMA integrity_check" | grep -qx ok'.
 * (The API itself takes an argv array and uses no shell.) The daemon runs such
 * a command only with drills.allowRequestCommands: true; otherwise it answers
 * 403 COMMAND_NOT_ALLOWED naming that key. --verify-name NAME picks a command
 * from the daemon's drills.verifyCommands instead, which always works.
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { type DrillReport, formatSummary } from "../../drill/report.js";
import { ErrorCode, PvjError, UsageError } from "../../errors.js";
import { parseDuration } from "../../util/duration.js";
import { sleep } from "../../util/sleep.js";
import { type ApiTarget, apiRequest } from "../api-client.js";
import { choosePoint, parseServerUrl, parseTime } from "../options.js";

/** Options of `pvjournal drill`. */
export interface DrillOptions {
  readonly checkpoint?: string;
  readonly at?: Date;
  readonly verify?: string;
  readonly verifyName?: string;
  readonly verifyTimeout?: string;
  readonly keep?: boolean;
  readonly server: URL;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

/** How often a running drill is polled. */
const POLL_MS = 250;

/** The POST /v1/drills body for these options. */
export function drillBody(opts: DrillOptions): Record<string, unknown> {
  const point = choosePoint(opts, false, ["checkpoint", "at"]);
  const body: Record<string, unknown> = {};
  if (point?.kind === "checkpoint") {
    if (!/^\d+$/.test(point.id))
      throw new UsageError(`--checkpoint expects a checkpoint id (a number), got "${point.id}"`);
    body.checkpoint = Number(point.id);
  } else if (point?.kind === "at") body.at = point.time.toISOString();
  if (opts.verify !== undefined && opts.verifyName !== undefined)
    throw new UsageError("give at most one of --verify, --verify-name");
  if (opts.verifyName !== undefined) {
    if (opts.verifyTimeout !== undefined)
      throw new UsageError(
        "--verify-timeout goes with --verify (named commands use drills.verifyTimeout)",
      );
    body.verify = opts.verifyName;
  } else if (opts.verify !== undefined) {
    if (opts.verify.trim().length === 0) throw new UsageError("--verify needs a command");
    body.verify = {
      command: ["sh", "-c", opts.verify],
      ...(opts.verifyTimeout !== undefined ? { timeout: opts.verifyTimeout } : {}),
    };
  } else if (opts.verifyTimeout !== undefined) {
    throw new UsageError("--verify-timeout needs --verify");
  }
  if (opts.keep) body.keep = true;
  return body;
}

/** Runs a drill through the API and prints its report; throws (exit 1) unless it passed. */
export async function runDrill(opts: DrillOptions): Promise<void> {
  const body = drillBody(opts);
  const api: ApiTarget = {
    server: opts.server,
    ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}),
  };
  const started = await apiRequest<{ id: string }>(api, "POST", "/v1/drills", body);
  if (!opts.json) process.stderr.write(`drill ${started.id} started\n`);
  let report = await apiRequest<DrillReport>(api, "GET", `/v1/drills/${started.id}`);
  while (report.state === "queued" || report.state === "running") {
    await sleep(POLL_MS);
    report = await apiRequest<DrillReport>(api, "GET", `/v1/drills/${started.id}`);
  }
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatSummary(report));
  if (report.passed !== true) {
    throw new PvjError(
      ErrorCode.INTERNAL,
      `drill ${report.id} did not pass${report.error ? `: ${report.error.message}` : ""}`,
    );
  }
}

function parseTimeout(value: string): string {
  try {
    parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** Registers `drill` on the program. */
export function registerDrill(program: Command): Command {
  return program
    .command("drill")
    .usage(
      "[--checkpoint ID | --at TIME] [--verify CMD | --verify-name NAME] [--keep] --server URL [--token-file F] [--json]",
    )
    .description(
      "runs a failover drill through the API, prints its report; exit 0 only if it passed",
    )
    .option("--checkpoint <id>", "drill this checkpoint (default: the latest checkpoint)")
    .option("--at <time>", "drill the newest position at or before this ISO 8601 time", parseTime)
    .option(
      "--verify <cmd>",
      "shell command run as sh -c CMD in the sandbox (env: PVJ_DRILL_DIR, PVJ_DRILL_POINT_TS, PVJ_DRILL_POINT_SEQ); the daemon needs drills.allowRequestCommands: true",
    )
    .option("--verify-name <name>", "run the daemon's drills.verifyCommands entry NAME")
    .option(
      "--verify-timeout <duration>",
      "kill the verify command after this long (default: drills.verifyTimeout)",
      parseTimeout,
    )
    .option("--keep", "keep the sandbox after the drill")
    .requiredOption("--server <url>", "daemon base URL, e.g. http://127.0.0.1:7070", parseServerUrl)
    .option("--token-file <file>", "file holding the API bearer token")
    .option("--json", "print the report as JSON")
    .action(runDrill);
}
