/**
 * Runs a drill's verify command: argv spawned without a shell (a user who
 * wants one passes ["sh", "-c", "..."]), in the sandbox, with the point in its
 * environment, in its own process group so a timeout kills the whole group,
 * keeping the tail of stdout+stderr for the report (src/util/run-command.ts,
 * shared with the checkpoint hooks).
 */
import { runCommand } from "../util/run-command.js";

/** Bytes of verify output kept (the tail): enough for a failing check's message. */
export const VERIFY_OUTPUT_TAIL_BYTES = 8192;

/** What a verify command did. */
export interface VerifyOutcome {
  readonly command: readonly string[];
  /** Exit code, or null when it was killed or could not start. */
  readonly exitCode: number | null;
  /** Tail of stdout and stderr, interleaved as they arrived. */
  readonly output: string;
  readonly timedOut: boolean;
  /** Wall time in seconds. */
  readonly seconds: number;
  /** Why it did not pass, when it did not (spawn failure, signal, timeout, exit code). */
  readonly error?: string;
}

/** Inputs of runVerify. */
export interface VerifyOptions {
  readonly cwd: string;
  /** Variables added to the daemon's environment (PVJ_DRILL_*). */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Kills the command (the daemon is stopping); the outcome then says so. */
  readonly signal?: AbortSignal;
}

/** True when a verify outcome counts as a pass: exit code 0, in time. */
export function verifyPassed(v: VerifyOutcome): boolean {
  return v.exitCode === 0 && !v.timedOut && v.error === undefined;
}

/** Runs `argv`; never rejects: failures are in the outcome. */
export async function runVerify(
  argv: readonly string[],
  opts: VerifyOptions,
): Promise<VerifyOutcome> {
  const command = [...argv];
  if (argv.length === 0) {
    return {
      command,
      exitCode: null,
      output: "",
      timedOut: false,
      seconds: 0,
      error: "empty verify command",
    };
  }
  const o = await runCommand(argv, {
    timeoutMs: opts.timeoutMs,
    tailBytes: VERIFY_OUTPUT_TAIL_BYTES,
    cwd: opts.cwd,
    env: opts.env,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { command, ...o };
}
