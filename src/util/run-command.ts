/**
 * Runs an external command (checkpoint hooks, drill verify commands): argv
 * spawned without a shell, in its own process group so that a timeout kills
 * the whole group (a `sh -c` and its children), keeping the tail of
 * stdout+stderr. Never rejects: every failure is in the outcome.
 */
import { spawn } from "node:child_process";

/** What a command did. */
export interface CommandOutcome {
  /** Exit code, or null when it was killed or could not start. */
  readonly exitCode: number | null;
  /** Tail of stdout and stderr, interleaved as they arrived. */
  readonly output: string;
  readonly timedOut: boolean;
  /** Wall time in seconds. */
  readonly seconds: number;
  /** Why it did not succeed (spawn failure, signal, timeout, abort, exit code); absent on exit 0. */
  readonly error?: string;
}

/** Options of runCommand. */
export interface CommandOptions {
  readonly timeoutMs: number;
  /** Bytes of output kept (the tail). */
  readonly tailBytes: number;
  readonly cwd?: string;
  /** Variables added to the daemon's environment (which the command needs: PATH, HOME...). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kills the command (the daemon is stopping); the outcome then says so. */
  readonly signal?: AbortSignal;
  /** A descriptor of ours the command gets as its fd 3 (mount(8) takes /dev/fuse that way). */
  readonly fd3?: number;
}

/** After the process exits, how long to wait for its pipes (a background child may hold them). */
const DRAIN_MS = 200;

/** Runs `argv` and resolves with its outcome. */
export function runCommand(argv: readonly string[], opts: CommandOptions): Promise<CommandOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) {
      resolve({ exitCode: null, output: "", timedOut: false, seconds: 0, error: "empty command" });
      return;
    }
    let out = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      out = Buffer.concat([out, chunk]);
      if (out.length > opts.tailBytes * 2) out = out.subarray(out.length - opts.tailBytes);
    };
    let settled = false;
    let timedOut = false;
    let aborted = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (o: { exitCode: number | null; error?: string }) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({
        exitCode: o.exitCode,
        output: out.subarray(Math.max(0, out.length - opts.tailBytes)).toString("utf8"),
        timedOut,
        seconds: (Date.now() - started) / 1000,
        ...(o.error !== undefined ? { error: o.error } : {}),
      });
    };
    const child = spawn(cmd, args, {
      shell: false,
      detached: true,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio:
        opts.fd3 === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", "pipe", "pipe", opts.fd3],
    });
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    child.on("close", () => opts.signal?.removeEventListener("abort", onAbort));
    child.on("error", (err) =>
      finish({ exitCode: null, error: `cannot run ${cmd}: ${err.message}` }),
    );
    child.on("exit", (code, signal) => {
      const result = timedOut
        ? { exitCode: code, error: `timed out after ${opts.timeoutMs} ms (killed)` }
        : aborted
          ? { exitCode: code, error: "killed: the daemon is stopping" }
          : signal
            ? { exitCode: code, error: `killed by ${signal}` }
            : code === 0
              ? { exitCode: 0 }
              : { exitCode: code, error: `exited with code ${code}` };
      const drain = setTimeout(() => {
        killGroup();
        finish(result);
      }, DRAIN_MS);
      child.on("close", () => {
        clearTimeout(drain);
        finish(result);
      });
    });
  });
}
