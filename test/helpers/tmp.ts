/** Real temporary directories for tests, removed when the test finishes. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";

/** Creates a fresh directory under the OS temp dir; the caller removes it. */
export async function makeTmpDir(prefix = "pvj-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Creates a fresh directory that is removed after the current test (call inside a test). */
export async function tmpDir(prefix = "pvj-test-"): Promise<string> {
  const dir = await makeTmpDir(prefix);
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
