/** Runs one CLI invocation and maps its outcome to the contract's exit codes. */
import { CommanderError } from "commander";
import type { CliContext } from "./context.js";
import { ExitCode, exitCodeFor, formatError } from "./exit.js";
import { buildProgram } from "./program.js";

/** Parses `argv` (without node and script), runs the command, and resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  const ctx: CliContext = { exitCode: ExitCode.OK };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (err) {
    // Commander has already printed its own message (or the help/version text).
    if (!(err instanceof CommanderError)) {
      process.stderr.write(formatError(err, program.opts().debug === true));
    }
    return exitCodeFor(err);
  }
}
