/**
 * A real PostgreSQL for tests: initdb, start, stop, psql, pgbench and
 * pg_amcheck, run as the `postgres` user (PostgreSQL refuses root), with a
 * private socket directory and port. Debian's postgresql package puts the
 * binaries in /usr/lib/postgresql/<major>/bin.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./command.js";

/** The newest installed PostgreSQL bin directory, or null when none is installed. */
export function pgBinDir(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const majors = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(base, majors[0], "bin") : null;
}

/** One cluster's coordinates. */
export interface PgCluster {
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
}

async function asPostgres(bin: string, args: readonly string[], timeoutMs = 120_000) {
  const dir = pgBinDir();
  if (!dir) throw new Error("PostgreSQL is not installed");
  return runCommand(["runuser", "-u", "postgres", "--", join(dir, bin), ...args], { timeoutMs });
}

async function must(what: string, p: ReturnType<typeof asPostgres>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.output}`);
  return r.output;
}

/** initdb with trust auth (the test's own socket directory only). */
export function initdb(dataDir: string): Promise<string> {
  return must("initdb", asPostgres("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres"]));
}

/** Starts a cluster and waits until it accepts connections. */
export function pgStart(c: PgCluster, settings: readonly string[] = []): Promise<string> {
  const opts = [
    `-p ${c.port}`,
    `-k ${c.socketDir}`,
    "-c listen_addresses=''",
    ...settings.map((s) => `-c ${s}`),
  ].join(" ");
  return must(
    "pg_ctl start",
    asPostgres("pg_ctl", [
      "-D",
      c.dataDir,
      "-o",
      opts,
      "-l",
      `${c.dataDir}.log`,
      "-w",
      "-t",
      "120",
      "start",
    ]),
  );
}

/** Stops a cluster (fast: rolls back open transactions, checkpoints, exits). */
export async function pgStop(c: PgCluster, mode: "fast" | "immediate" = "fast"): Promise<void> {
  await asPostgres("pg_ctl", ["-D", c.dataDir, "-m", mode, "-w", "stop"]);
}

function conn(c: PgCluster): string[] {
  return ["-h", c.socketDir, "-p", String(c.port), "-U", "postgres"];
}

/** Runs SQL, returns unaligned tuples-only output. */
export function psql(c: PgCluster, sql: string): Promise<string> {
  return must(
    "psql",
    asPostgres("psql", [
      ...conn(c),
      "-X",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      sql,
      "postgres",
    ]),
  ).then((o) => o.trim());
}

/** pgbench -i at `scale`. */
export function pgbenchInit(c: PgCluster, scale: number): Promise<string> {
  return must(
    "pgbench -i",
    asPostgres("pgbench", [...conn(c), "-i", "-q", "-s", String(scale), "postgres"]),
  );
}

/** pgbench with `clients` for `seconds`; resolves with tps. */
export async function pgbench(c: PgCluster, clients: number, seconds: number): Promise<number> {
  const out = await must(
    "pgbench",
    asPostgres(
      "pgbench",
      [...conn(c), "-c", String(clients), "-j", "2", "-T", String(seconds), "postgres"],
      (seconds + 60) * 1000,
    ),
  );
  const m = /tps = ([\d.]+)/.exec(out);
  if (!m) throw new Error(`no tps in pgbench output: ${out}`);
  return Number(m[1]);
}

/**
 * The pgbench invariant: every transaction adds the same delta to one
 * account, teller and branch and logs it in history, so the four sums agree.
 */
export async function pgbenchSums(c: PgCluster): Promise<number[]> {
  const out = await psql(
    c,
    "select (select coalesce(sum(abalance),0) from pgbench_accounts), (select coalesce(sum(tbalance),0) from pgbench_tellers), (select coalesce(sum(bbalance),0) from pgbench_branches), (select coalesce(sum(delta),0) from pgbench_history)",
  );
  return out.split("|").map(Number);
}

/** pg_amcheck of every table and index (heap and B-tree, with heapallindexed). */
export async function amcheck(c: PgCluster): Promise<{ ok: boolean; output: string }> {
  const r = await asPostgres("pg_amcheck", [
    ...conn(c),
    "--install-missing",
    "--heapallindexed",
    "postgres",
  ]);
  return { ok: r.code === 0, output: r.output };
}
