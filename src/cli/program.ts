/**
 * The `pvjournal` command line: every command of the contract, each in
 * src/cli/commands/. A command module imports only what its options need at
 * start-up; the daemons, the journal and the restore engine are imported
 * inside the action that runs them. Loading everything up front cost 0.7 s per
 * invocation (0.27 s now for `--help`), which an offline restore paid on top
 * of its RTO.
 */
import { Command } from "commander";
import { registerCheckpoint } from "./commands/checkpoint.js";
import { registerCheckpoints } from "./commands/checkpoints.js";
import { registerDiff } from "./commands/diff.js";
import { registerDrill } from "./commands/drill.js";
import { registerReplica } from "./commands/replica.js";
import { registerRestore } from "./commands/restore.js";
import { registerSidecar } from "./commands/sidecar.js";
import { registerStatus } from "./commands/status.js";
import { registerVerify } from "./commands/verify.js";
import type { CliContext } from "./context.js";
import { packageVersion } from "./version.js";

/** Where commander writes; tests can capture it. */
export interface ProgramOutput {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
}

const STDIO: ProgramOutput = {
  writeOut: (text) => process.stdout.write(text),
  writeErr: (text) => process.stderr.write(text),
};

/**
 * Builds the program. exitOverride() makes commander throw instead of calling
 * process.exit, so src/cli/main.ts maps every outcome to the contract's exit
 * codes; settings are set before the commands so each command inherits them.
 */
export function buildProgram(ctx: CliContext, output: ProgramOutput = STDIO): Command {
  const program = new Command("pvjournal")
    .description(
      "continuous data protection for Kubernetes volumes: journal, restore, drill, failover",
    )
    .version(packageVersion(), "-V, --version", "print the version")
    .option("--debug", "print stack traces with errors")
    .exitOverride()
    .configureOutput({
      writeOut: output.writeOut,
      writeErr: output.writeErr,
      // "error: unknown option '--x'" -> "pvjournal: unknown option '--x'", like our own errors.
      outputError: (text, write) => write(`pvjournal: ${text.replace(/^error: /, "")}`),
    })
    .showHelpAfterError("(add --help for usage)");

  registerSidecar(program, ctx);
  registerReplica(program, ctx);
  registerCheckpoint(program);
  registerCheckpoints(program);
  registerRestore(program);
  registerVerify(program);
  registerDrill(program);
  registerDiff(program);
  registerStatus(program);

  // The command list above shows only "[options]"; spell out each synopsis
  // (mutually exclusive and required options included) like the contract does.
  const synopses = program.commands.map((cmd) => `  pvjournal ${cmd.name()} ${cmd.usage()}`);
  program.addHelpText("after", `\nSynopsis:\n${synopses.join("\n")}\n`);
  return program;
}
