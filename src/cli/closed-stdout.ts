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

/** Makes EPIPE on `stream` (stdout) end the process quietly; other errors stay fatal. */
export function endOnClosedStdout(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    dieOfSigpipe();
  });
}
