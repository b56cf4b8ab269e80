/**
 * A real sidecar in this process for API-level tests: a temp dir with a
 * `data` source holding hello.txt, a journal, restore and drill roots, and a
 * config written as the user would; ready once its initial scan is done.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.js";
import { createSidecar, type Sidecar } from "../../src/daemon/sidecar.js";
import { silentLogger } from "../../src/log/logger.js";
import { tmpDir, waitFor } from "../helpers/index.js";

/** Options of startSidecar. */
export interface InProcessSidecarOptions {
  /** Temp dir prefix (names the test in /tmp). */
  readonly prefix: string;
  /** drills.sandboxRoot, relative to the dir. Default "drills". */
  readonly sandboxRoot?: string;
  /** YAML lines that follow `drills:` → `verifyCommands:` and the rest of the drills section. */
  readonly drillLines: readonly string[];
  /** Runs after the source exists and before the config is loaded (extra files). */
  readonly prepare?: (dir: string) => Promise<void>;
  /** Where the caller collects its cleanups (stopped after each test). */
  readonly cleanups: (() => Promise<void>)[];
}

/** Starts the sidecar; resolves when it is ready. */
export async function startSidecar(
  o: InProcessSidecarOptions,
): Promise<{ s: Sidecar; dir: string }> {
  const dir = await tmpDir(o.prefix);
  await mkdir(join(dir, "data"));
  await writeFile(join(dir, "data", "hello.txt"), "hello\n");
  await o.prepare?.(dir);
  await writeFile(
    join(dir, "sidecar.yaml"),
    [
      "sources:",
      "  - name: data",
      "    path: data",
      "journal:",
      "  dir: journal",
      "api:",
      "  listen: 127.0.0.1:0",
      "checkpoints:",
      "  interval: 0",
      "restore:",
      "  allowedRoots: [restore]",
      "drills:",
      `  sandboxRoot: ${o.sandboxRoot ?? "drills"}`,
      "  verifyCommands:",
      ...o.drillLines,
      "log:",
      "  level: silent",
      "",
    ].join("\n"),
  );
  const config = loadConfig({ file: join(dir, "sidecar.yaml"), role: "sidecar", cwd: dir });
  const s = await createSidecar(config, silentLogger(), { token: null, https: null });
  o.cleanups.push(() => s.stop());
  s.start();
  await waitFor(() => s.capture.status().ready, { timeout: 10_000, what: "initial scan" });
  return { s, dir };
}

/** Waits until drill `id` has finished; its report's state and verdict. */
export function drillReport(s: Sidecar, id: string): Promise<{ state: string; passed: boolean }> {
  return waitFor(
    async () => {
      const r = (await s.app.inject({ url: `/v1/drills/${id}` })).json<{
        state: string;
        passed: boolean;
      }>();
      return r.state === "done" || r.state === "failed" ? r : null;
    },
    { timeout: 20_000, what: `drill ${id} done` },
  );
}
