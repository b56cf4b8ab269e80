/**
 * Runs the built CLI (`node dist/cli.js`) as a real child process. `npm test`
 * builds first; run `npm run build` before running these tests directly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { onTestFinished } from "vitest";
import { StopWaiting } from "./wait.js";

/** Absolute path of the built entry point. */
export const CLI_PATH = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** How a CLI process ended and what it printed. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for running the CLI. */
export interface CliOptions {
  readonly cwd?: string;
  /** Added to the environment; PVJ_* variables of the outer environment are removed. */
  readonly env?: Record<string, string>;
  /** Kill the process (SIGKILL) after this many ms; default 30000. */
  readonly timeout?: number;
}

/** A running CLI process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when the process exits. */
  readonly exited: Promise<CliResult>;
  /** Throws StopWaiting (with its stderr) if the process has exited: use inside waitFor. */
  assertRunning(): void;
}

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Keep the test hermetic: a PVJ_* variable of the developer's shell must not reach the daemon.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("PVJ_")) env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Starts `node dist/cli.js ...args`. The process is killed (SIGKILL) when the
 * current test finishes if it is still running, so a failed test leaks nothing.
 */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run npm run build first`);
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 30_000);
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  try {
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
  } catch {
    // Called outside a test (e.g. in beforeAll): the caller kills it.
  }
  const assertRunning = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.exitCode !== null ? `code ${child.exitCode}` : child.signalCode;
      throw new StopWaiting(`pvjournal exited (${how}): ${stderr.trim() || stdout.trim()}`);
    }
  };
  return { child, stdout: () => stdout, stderr: () => stderr, exited, assertRunning };
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).exited;
}
