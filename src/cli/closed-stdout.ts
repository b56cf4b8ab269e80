/**
 * A closed stdout pipe (`pvjournal --help | head -3`) ends the CLI the way
 * it ends any Unix tool, `git log | head` included: killed by SIGPIPE (the
 * shell shows status 141), nothing on stderr. Node ignores SIGPIPE, so a
 * write to a pipe whose reader is gone fails with EPIPE instead, emitted as
 * an 'error' event on process.stdout; without a listener that event became
 * an uncaught exception and its stack trace.
 */

/** Signal number of SIGPIPE on Linux: the exit status is 128 + it when the signal does not end us. */
const SIGPIPE_NUMBER = 13;

/** Ends the process as SIGPIPE's default action would. */
function dieOfSigpipe(): void {
  // Installing a listener and removing the last one puts SIGPIPE back to its
  // default action (libuv restores SIG_DFL), which Node set to "ignore" at start.
  const ignore = (): void => undefined;
  process.on("SIGPIPE", ignore);
  process.off("SIGPIPE", ignore);
  process.kill(process.pid, "SIGPIPE");
  // Another thread may take the signal a moment later; either way the status is 141.
  process.exit(128 + SIGPIPE_NUMBER);
}

/** EPIPE on `stream` ends the process quietly; other errors stay fatal. */
function attach(stream: NodeJS.WriteStream): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    dieOfSigpipe();
  });
}

/**
 * Makes EPIPE on stdout end the process quietly, from the first use of
 * process.stdout on: Node creates that stream on first access, which costs
 * 3-7 ms here (a pipe loads node:net), and a restore, whose output goes to
 * stderr, need not pay it. Node's getter is put back at that first access.
 */
export function endOnClosedStdout(): void {
  const desc = Object.getOwnPropertyDescriptor(process, "stdout");
  const get = desc?.get;
  if (!desc || !get || desc.configurable !== true) {
    attach(process.stdout);
    return;
  }
  Object.defineProperty(process, "stdout", {
    configurable: true,
    enumerable: desc.enumerable ?? true,
    get() {
      Object.defineProperty(process, "stdout", desc);
      const stream = get.call(process) as NodeJS.WriteStream;
      attach(stream);
      return stream;
    },
  });
}
