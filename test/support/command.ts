/** Runs a system command (umount, pg_ctl, ...) for tests; resolves with its exit code and output. */
import { spawn } from "node:child_process";

/** Result of runCommand. */
export interface CommandResult {
  readonly code: number;
  readonly output: string;
}

/** Spawns argv without a shell and collects stdout+stderr. Never rejects for a non-zero exit. */
export function runCommand(
  argv: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      timeout: opts.timeoutMs ?? 120_000,
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}
