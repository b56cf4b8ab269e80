/**
 * Runs a checkpoint hook: argv spawned without a shell, in its own process
 * group so that a timeout kills the whole group (a `sh -c` and its children),
 * with the tail of stdout+stderr kept for the checkpoint record.
 */
import type { HookOutcome } from "../journal/records.js";
import { runCommand } from "../util/run-command.js";

/** Bytes of hook output kept (the tail): enough for an error message, small in every checkpoint. */
export const HOOK_OUTPUT_TAIL_BYTES = 4096;

/** Runs `argv` with a timeout in ms; never rejects: failures are in the outcome. */
export async function runHook(argv: readonly string[], timeoutMs: number): Promise<HookOutcome> {
  if (argv.length === 0) return { ok: false, exitCode: null, error: "empty hook command" };
  const o = await runCommand(argv, { timeoutMs, tailBytes: HOOK_OUTPUT_TAIL_BYTES });
  return {
    ok: o.error === undefined && o.exitCode === 0,
    exitCode: o.exitCode,
    ...(o.error !== undefined ? { error: o.error } : {}),
    ...(o.output.length > 0 ? { output: o.output } : {}),
  };
}
