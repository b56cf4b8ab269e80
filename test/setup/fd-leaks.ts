/**
 * A file handle that a test (or the code under test) forgot to close is a
 * failure, not a warning: Node reports it when the garbage collector closes
 * it ("Closing file descriptor N on garbage collection"), and that report
 * fails the test file that leaked it.
 */
process.on("warning", (w) => {
  if (/Closing file descriptor \d+ on garbage collection/.test(w.message)) {
    throw new Error(`file handle leak: ${w.message}`);
  }
});
