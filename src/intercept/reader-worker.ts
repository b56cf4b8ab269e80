/**
 * A worker thread that only reads /dev/fuse. Each read blocks this thread
 * (not libuv's pool, which the journal and fsyncs need) until the kernel has
 * a request; the request is copied out at its exact size and handed to the
 * main thread, which owns all filesystem state. Reading never waits for a
 * request to be handled, so an fsync waiting on the journal stops nothing.
 */
import { readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

const { fd, bufferBytes } = workerData as { fd: number; bufferBytes: number };
/** Requests larger than this (big WRITEs) hand over the read buffer itself instead of a copy. */
const HAND_OVER_BYTES = 64 * 1024;
let buf = Buffer.from(new ArrayBuffer(bufferBytes));
const pause = new Int32Array(new SharedArrayBuffer(4));

for (;;) {
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, null);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: retry.
    if (code === "ENOENT" || code === "EINTR" || code === "EAGAIN") continue;
    // EPERM: the mount has not completed yet.
    if (code === "EPERM") {
      Atomics.wait(pause, 0, 0, 10);
      continue;
    }
    // ENODEV: unmounted. Anything else ends the session too.
    parentPort?.postMessage({ end: code ?? String(err) });
    break;
  }
  if (n > HAND_OVER_BYTES) {
    // Zero-copy: the main thread takes this buffer (its blocks go into the journal as they are).
    const whole = buf.buffer as ArrayBuffer;
    parentPort?.postMessage({ buf: whole, n }, [whole]);
    buf = Buffer.from(new ArrayBuffer(bufferBytes));
  } else {
    const copy = new ArrayBuffer(n);
    buf.copy(Buffer.from(copy), 0, 0, n);
    parentPort?.postMessage({ buf: copy, n }, [copy]);
  }
}
