/**
 * Exit codes and error output of the CLI, in one place (contract: 0 success,
 * 1 operational failure, 2 bad usage or bad config).
 */
import { CommanderError } from "commander";
import { ConfigError, PvjError, UsageError } from "../errors.js";

/** The contract's exit codes. */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
} as const;

/** One of the contract's exit codes. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Exit code for a thrown value. Commander's own errors (unknown option,
 * missing required option or argument, invalid argument) are usage errors;
 * its help and version "errors" are successes.
 */
export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (err instanceof ConfigError || err instanceof UsageError) return ExitCode.USAGE;
  return ExitCode.FAILURE;
}

/**
 * The line(s) printed on stderr for an error: `pvjournal: <message>` plus the
 * context that locates it (key, file, path, seq) and a hint when present. The
 * stack only with --debug: operators need the message, developers the stack.
 */
export function formatError(err: unknown, debug: boolean): string {
  if (!(err instanceof Error)) return `pvjournal: unexpected error: ${String(err)}\n`;
  let line =
    err instanceof PvjError
      ? `pvjournal: ${err.message}`
      : `pvjournal: unexpected error: ${err.message}`;
  const hint = err instanceof PvjError ? err.context.hint : undefined;
  if (err instanceof PvjError) {
    const { key, file, path, seq } = err.context;
    const parts: string[] = [];
    if (key !== undefined) parts.push(`key: ${key}`);
    if (file !== undefined) parts.push(`file: ${file}`);
    if (path !== undefined) parts.push(`path: ${path}`);
    if (seq !== undefined) parts.push(`seq: ${seq}`);
    if (parts.length > 0) line += ` (${parts.join(", ")})`;
  }
  let out = `${line}\n`;
  if (hint !== undefined) out += `pvjournal: hint: ${hint}\n`;
  if (debug && err.stack) out += `${err.stack}\n`;
  if (debug && err.cause instanceof Error && err.cause.stack)
    out += `caused by: ${err.cause.stack}\n`;
  return out;
}
