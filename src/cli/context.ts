import type { ExitCode } from "./exit.js";

/**
 * Shared by every command of one CLI run. Actions that finish without an
 * exception but must not exit 0 (a daemon whose shutdown timed out) set
 * `exitCode`; failures throw and are mapped in src/cli/exit.ts.
 */
export interface CliContext {
  exitCode: ExitCode;
}
