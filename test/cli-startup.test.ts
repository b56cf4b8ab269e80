/**
 * What an offline restore loads at start (issue 16): every package a CLI
 * command loads costs its start-up, which an offline restore pays on top of
 * its RTO. A restore reads only blob records, which are not msgpack: it must
 * not load msgpackr (and its native extractor); the tool logger is made on
 * first use, so a quiet run loads no pino; `checkpoints` hashes nothing.
 * Real child processes; run `npm run build` first.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createRootLogger, lazyLogger } from "../src/log/logger.js";
import { runCli, tmpDir } from "./helpers/index.js";
import { buildModelJournal } from "./support/restore-fixture.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** Preloaded into the CLI: prints the CommonJS modules loaded (ESM packages load their CJS deps there too). */
const PRELOAD = `data:text/javascript,${encodeURIComponent(
  `import { createRequire } from "node:module";
   const cache = createRequire("/").cache;
   process.on("exit", () => process.stderr.write("LOADED " + JSON.stringify(Object.keys(cache)) + "\\n"));`,
)}`;

function loadedModules(stderr: string): string[] {
  const line = stderr.split("\n").find((l) => l.startsWith("LOADED "));
  if (!line) throw new Error(`no module list in stderr: ${stderr}`);
  return JSON.parse(line.slice("LOADED ".length)) as string[];
}

describe("offline commands load only what they use", () => {
  it("restore and checkpoints load no msgpackr and no pino; checkpoints no hash-wasm", async () => {
    const base = await tmpDir("pvj-startup-");
    const journalDir = join(base, "journal");
    const built = await buildModelJournal(journalDir, { seed: 7, ops: 40, every: 20 });
    const cp = built.points[0]!.cp;
    await built.journal.close();
    const env = { NODE_OPTIONS: `--import=${PRELOAD}` };
    const runs = [
      await runCli(["checkpoints", "--journal", journalDir], { env }),
      await runCli(
        [
          "restore",
          "--journal",
          journalDir,
          "--checkpoint",
          String(cp.id),
          "--target",
          join(base, "out"),
        ],
        { env },
      ),
    ];
    const hashWasm = (r: { stderr: string }) =>
      loadedModules(r.stderr).some((p) => p.includes("/node_modules/hash-wasm/"));
    expect(hashWasm(runs[0]!)).toBe(false);
    expect(hashWasm(runs[1]!)).toBe(true);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      const loaded = loadedModules(r.stderr);
      // The list is real: the index's SQLite binding is CommonJS.
      expect(loaded.some((p) => p.includes("/node_modules/better-sqlite3/"))).toBe(true);
      // Nor pino: the tool logger is made on its first message, and these log none.
      expect(
        loaded.filter((p) => /\/node_modules\/(@msgpackr-extract\/|msgpackr|pino)/.test(p)),
      ).toEqual([]);
    }
  });
});

describe("lazy logger", () => {
  it("makes its logger on first use, once, and forwards calls and properties to it", () => {
    const lines: string[] = [];
    let made = 0;
    const log = lazyLogger(() => {
      made += 1;
      return createRootLogger({
        level: "warn",
        destination: { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream,
      });
    });
    expect(made).toBe(0);
    log.info("not at warn level");
    expect(made).toBe(1);
    log.warn({ dir: "/j" }, "journal in use");
    expect(log.level).toBe("warn");
    log.child({ component: "journal" }).error("from a child");
    expect(made).toBe(1);
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(["journal in use", "from a child"]);
  });
});
