/**
 * A drill with a real application: the `sqlite3` shell writes a WAL-mode
 * database continuously into a source captured by the real capture engine;
 * checkpoints freeze the writer (pre hook `kill -STOP`, post hook
 * `kill -CONT`: every file then holds still during the settle, a true crash
 * image); a replica follows the stream. Drills run while the writes and the
 * replication go on; their verify command runs `PRAGMA integrity_check` and a
 * row count in the sandbox.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { cp } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { tmpDir, waitFor } from "./helpers/index.js";
import { CaptureRig } from "./support/capture-harness.js";
import { runDrill, serveStream, startReplica } from "./support/drill-rig.js";

const run = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `sqlite3 DB` fed through a pipe; `.print C n` after each commit tells what is committed. */
class Writer {
  committed = 0;
  private sent = 0;
  private readonly child: ChildProcess;
  private waiter: (() => void) | null = null;
  private readonly exited: Promise<number | null>;

  constructor(db: string) {
    this.child = spawn("sqlite3", [db], { stdio: ["pipe", "pipe", "ignore"] });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const m = /^C (\d+)$/.exec(line);
      if (m) {
        this.committed = Number(m[1]);
        this.waiter?.();
      }
    });
    this.exited = new Promise((res) => this.child.on("exit", (code) => res(code)));
    this.child.stdin!.write(
      ".bail on\nPRAGMA journal_mode=WAL;\nCREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);\n.print C 0\n",
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  async transaction(rows: number): Promise<void> {
    this.sent += rows;
    const target = this.sent;
    const done = new Promise<void>((res) => {
      this.waiter = () => {
        if (this.committed >= target) res();
      };
    });
    const inserts = Array.from(
      { length: rows },
      () => "INSERT INTO t(v) VALUES (randomblob(1500));",
    );
    this.child.stdin!.write(`BEGIN;\n${inserts.join("\n")}\nCOMMIT;\n.print C ${target}\n`);
    const died = this.exited.then((code) => {
      throw new Error(`sqlite3 exited ${code}`);
    });
    await Promise.race([done, died]);
  }

  async close(): Promise<void> {
    this.child.kill("SIGCONT");
    this.child.stdin!.end(".quit\n");
    await this.exited;
  }
}

async function inspect(db: string): Promise<{ integrity: string; count: number }> {
  const { stdout } = await run("sqlite3", [
    db,
    "PRAGMA integrity_check;",
    "SELECT count(*) FROM t;",
  ]);
  const [integrity, count] = stdout.trim().split("\n");
  return { integrity: integrity ?? "", count: Number(count) };
}

const haveSqlite = spawnSync("sh", ["-c", "command -v sqlite3"]).status === 0;
if (!haveSqlite) console.warn("SKIPPED the SQLite drill test: sqlite3 is not installed");

describe.skipIf(!haveSqlite)("a drill with a real application (sqlite3, WAL mode)", () => {
  it("verifies integrity and rows in the sandbox while the app writes and the replica follows", async () => {
    const rig = await CaptureRig.create({ usePolling: false });
    cleanups.push(() => rig.close());
    const db = join(rig.src(), "db.sqlite");
    const writer = new Writer(db);
    cleanups.push(() => writer.close().catch(() => undefined));
    await writer.transaction(5);
    await rig.up({
      pre: ["kill", "-STOP", String(writer.pid)],
      post: ["kill", "-CONT", String(writer.pid)],
      timeout: 5000,
    });
    const journal = rig.journal!;
    const { address } = await serveStream(journal);
    const rep = await startReplica(address);

    // The application writes all the time; checkpoints come every 250 ms.
    let writing = true;
    const writes = (async () => {
      while (writing) {
        await writer.transaction(4);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const committedAt = new Map<number, number>();
    const checkpoints = (async () => {
      while (writing) {
        const before = writer.committed;
        const cp = await rig.checkpointer!.take(null);
        expect(cp.consistency).toBe("app");
        committedAt.set(cp.id, before);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      await waitFor(() => rep.mirror.seq > 0 && committedAt.size >= 2, {
        timeout: 20_000,
        what: "replica mirror",
      });
      const verify = [
        'db="$PVJ_DRILL_DIR/data/db.sqlite"',
        'r=$(sqlite3 "$db" "PRAGMA integrity_check")',
        'echo "integrity: $r"',
        'test "$r" = ok || exit 1',
        'echo "rows: $(sqlite3 "$db" "SELECT count(*) FROM t")"',
      ].join("\n");
      for (let i = 0; i < 2; i++) {
        const seqBefore = rep.journal.lastSeq;
        const r = await runDrill(rep.app, { verify: { command: ["sh", "-c", verify] } }, 60_000);
        expect(r, JSON.stringify(r)).toMatchObject({ state: "done", passed: true });
        expect(r.rpoSeconds).not.toBeNull();
        expect(r.rtoSeconds).toBeGreaterThan(0);
        expect(r.verify!.output).toContain("integrity: ok");
        const rows = Number(/rows: (\d+)/.exec(r.verify!.output)?.[1]);
        // At least every row committed before its checkpoint was requested.
        expect(rows).toBeGreaterThanOrEqual(committedAt.get(r.point.checkpoint!)!);
        expect(rows).toBeGreaterThan(0);
        console.log(
          `sqlite drill ${r.id}: ${rows} rows at checkpoint ${r.point.checkpoint} (${writer.committed} committed now), ` +
            `RPO ${r.rpoSeconds?.toFixed(3)} s, RTO ${r.rtoSeconds?.toFixed(3)} s, ${r.method}`,
        );
        // Capture and replication went on during the drill.
        await waitFor(() => rep.journal.lastSeq > seqBefore, {
          timeout: 10_000,
          what: "replication",
        });
      }
    } finally {
      writing = false;
      await writes;
      await checkpoints;
    }
    // The source is intact and complete; the mirror equals the last checkpoint, as a database.
    const last = await rig.checkpointer!.take("final");
    expect(await inspect(db)).toEqual({ integrity: "ok", count: writer.committed });
    await waitFor(() => rep.mirror.seq === last.seq, { timeout: 20_000, what: "mirror at final" });
    await rep.replica.mirrorIdle();
    // Inspected on a copy: opening the mirror's database would write to the mirror.
    const copy = await tmpDir();
    await cp(join(rep.mirror.dir, "data"), join(copy, "data"), { recursive: true });
    expect(await inspect(join(copy, "data", "db.sqlite"))).toEqual({
      integrity: "ok",
      count: writer.committed,
    });
    await rep.stop();
  });
});
