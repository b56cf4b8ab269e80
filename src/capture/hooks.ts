/**
 * Runs a checkpoint hook: argv spawned without a shell, in its own process
 * group so that a timeout kills the whole group (a `sh -c` and its children),
 * with the tail of stdout+stderr kept for the checkpoint record.
 */
import { spawn } from "node:child_process";
import type { HookOutcome } from "../journal/records.js";

/** Bytes of hook output kept (the tail): enough for an error message, small in every checkpoint. */
export const HOOK_OUTPUT_TAIL_BYTES = 4096;
/** After the process exits, how long to wait for its pipes to drain (children may hold them). */
const DRAIN_MS = 200;

/** Runs `argv` with a timeout in ms; never rejects: failures are in the outcome. */
export function runHook(argv: readonly string[], timeoutMs: number): Promise<HookOutcome> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (!cmd) {
      resolve({ ok: false, exitCode: null, error: "empty hook command" });
      return;
    }
    let out = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      out = Buffer.concat([out, chunk]);
      if (out.length > HOOK_OUTPUT_TAIL_BYTES * 2)
        out = out.subarray(out.length - HOOK_OUTPUT_TAIL_BYTES);
    };
    let settled = false;
    let timedOut = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (o: { exitCode: number | null; error?: string }) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      const output = out
        .subarray(Math.max(0, out.length - HOOK_OUTPUT_TAIL_BYTES))
        .toString("utf8");
      resolve({
        ok: o.error === undefined && o.exitCode === 0,
        exitCode: o.exitCode,
        ...(o.error !== undefined ? { error: o.error } : {}),
        ...(output.length > 0 ? { output } : {}),
      });
    };
    const child = spawn(cmd, args, {
      shell: false,
      detached: true,
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
    }, timeoutMs);
    child.on("error", (err) =>
      finish({ exitCode: null, error: `cannot run ${cmd}: ${err.message}` }),
    );
    child.on("exit", (code, signal) => {
      const result = timedOut
        ? { exitCode: code, error: `timed out after ${timeoutMs} ms (killed)` }
        : signal
          ? { exitCode: code, error: `killed by ${signal}` }
          : code === 0
            ? { exitCode: 0 }
            : { exitCode: code, error: `exited with code ${code}` };
      // Output may still be in the pipes; wait for them briefly (a background child may hold them open).
      const drain = setTimeout(() => finish(result), DRAIN_MS);
      child.on("close", () => {
        clearTimeout(drain);
        finish(result);
      });
    });
  });
}
