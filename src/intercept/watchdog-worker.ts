/**
 * The watchdog's thread: if the main thread stops beating for `limitMs`, the
 * whole process is killed (SIGKILL). A dead daemon is better than a stuck
 * one: the kernel aborts a dead daemon's FUSE connection and the app sees
 * ENOTCONN (its liveness probe fails, Kubernetes restarts the pod), while a
 * stuck one leaves writers in uninterruptible sleep.
 */
import { workerData } from "node:worker_threads";

const { beat, limitMs } = workerData as { beat: SharedArrayBuffer; limitMs: number };
const view = new Int32Array(beat);
const pause = new Int32Array(new SharedArrayBuffer(4));
let last = Atomics.load(view, 0);
let since = Date.now();
for (;;) {
  Atomics.wait(pause, 0, 0, 1000);
  const now = Atomics.load(view, 0);
  if (now < 0) break; // stopped on purpose
  if (now !== last) {
    last = now;
    since = Date.now();
  } else if (Date.now() - since > limitMs) {
    process.stderr.write(
      `pvjournal: intercept watchdog: the daemon made no progress for ${limitMs} ms; killing it so the mount fails fast (ENOTCONN) instead of hanging the app\n`,
    );
    process.kill(process.pid, "SIGKILL");
  }
}
