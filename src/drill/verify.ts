/**
 * Runs a drill's verify command: argv spawned without a shell (a user who
 * wants one passes ["sh", "-c", "..."]), in the sandbox, with the point in its
 * environment, in its own process group so a timeout kills the whole group,
 * keeping the tail of stdout+stderr for the report. Same pattern as the
 * checkpoint hooks (src/capture/hooks.ts), plus cwd, env and `timedOut`.
 */
import { spawn } from "node:child_process";

/** Bytes of verify output kept (the tail): enough for a failing check's message. */
export const VERIFY_OUTPUT_TAIL_BYTES = 8192;
/** After the process exits, how long to wait for its pipes to drain (children may hold them). */
const DRAIN_MS = 200;

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
export function runVerify(argv: readonly string[], opts: VerifyOptions): Promise<VerifyOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const base = { command: [...argv] };
    if (!cmd) {
      resolve({
        ...base,
        exitCode: null,
        output: "",
        timedOut: false,
        seconds: 0,
        error: "empty verify command",
      });
      return;
    }
    let out = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      out = Buffer.concat([out, chunk]);
      if (out.length > VERIFY_OUTPUT_TAIL_BYTES * 2)
        out = out.subarray(out.length - VERIFY_OUTPUT_TAIL_BYTES);
    };
    let settled = false;
    let timedOut = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (o: { exitCode: number | null; error?: string }) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve({
        ...base,
        exitCode: o.exitCode,
        output: out.subarray(Math.max(0, out.length - VERIFY_OUTPUT_TAIL_BYTES)).toString("utf8"),
        timedOut,
        seconds: (Date.now() - started) / 1000,
        ...(o.error !== undefined ? { error: o.error } : {}),
      });
    };
    const child = spawn(cmd, args, {
      shell: false,
      detached: true,
      cwd: opts.cwd,
      // The command needs PATH, HOME and the like: the daemon's environment is
      // passed through (spawn's default), plus the drill's own variables.
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
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
    let aborted = false;
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
      // A background child of the command may hold the pipes open: wait briefly, then kill it too.
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
