/**
 * The offline commands' way into a journal directory. The journal, SQLite and
 * the logger are imported here on first use, not when the CLI starts: every
 * command pays for what it runs, and `--help` or an offline restore does not
 * load the daemons (about 0.5 s of module loading; see program.ts).
 */
import type { Journal } from "../journal/journal.js";

/** Opens `dir` for a tool (see journal-access.ts): read-only when a daemon holds it. */
export async function openJournal(dir: string): Promise<{ journal: Journal; readOnly: boolean }> {
  const [{ openForTool }, { toolLogger }] = await Promise.all([
    import("./journal-access.js"),
    import("./tool-logger.js"),
  ]);
  return openForTool(dir, toolLogger());
}
