/**
 * A worker thread that only reads /dev/fuse. Each read blocks this thread
 * (not libuv's pool, which the journal and fsyncs need) until the kernel has
 * a request; the request is copied out at its exact size and handed to the
 * main thread, which owns all filesystem state. Reading never waits for a
 * request to be handled, so an fsync waiting on the journal stops nothing.
 *
 * A read blocked in the kernel cannot be interrupted from JavaScript, and a
 * process does not exit while this thread is in one. On stop the main thread
 * sets `stop` and closes a directory it holds open on the mount: the kernel's
 * RELEASEDIR wakes this read, and the thread ends instead of reading again
 * (without fusectl there is no other way to end a connection that an app
 * still holds a file of).
 */
import { readSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";

const { fd, bufferBytes, stop } = workerData as {
  fd: number;
  bufferBytes: number;
  /** Set to 1 by the main thread when the session stops. */
  stop: Int32Array;
};
/** Requests larger than this (big WRITEs) hand over the read buffer itself instead of a copy. */
const HAND_OVER_BYTES = 64 * 1024;
let buf = Buffer.from(new ArrayBuffer(bufferBytes));
const pause = new Int32Array(new SharedArrayBuffer(4));

for (;;) {
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, null);
    if (Atomics.load(stop, 0) === 1) {
      parentPort?.postMessage({ end: "STOPPED" });
      break;
    }
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
