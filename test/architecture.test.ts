/**
 * The layer rules of docs/architecture.md, enforced: imports under src/ are
 * parsed (TypeScript's own pre-processor: static, type-only, re-exports and
 * dynamic imports), folded to folders, and checked against the `layers` table
 * read from the doc, so the doc and the code cannot drift apart.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const SRC = join(ROOT, "src");

/** One import of one source file. */
interface Import {
  readonly file: string; // relative to src/, with "/"
  readonly spec: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const files = sourceFiles(SRC).map((p) => relative(SRC, p).split(sep).join("/"));
const texts = new Map(files.map((f) => [f, readFileSync(join(SRC, f), "utf8")]));
const imports: Import[] = files.flatMap((file) =>
  ts
    .preProcessFile(texts.get(file)!, true, true)
    .importedFiles.map((i) => ({ file, spec: i.fileName })),
);

/** The folder (layer) of a file under src/: its top folder, or the root file's name. */
function layerOf(file: string): string {
  const parts = file.split("/");
  if (parts.length > 1) return parts[0]!;
  return parts[0]!.replace(/\.m?[jt]s$/, ""); // errors.ts -> "errors", cli.ts -> "cli"
}

/** The file under src/ a relative import names (extension as written: .js). */
function target(i: Import): string {
  return relative(SRC, resolve(SRC, dirname(i.file), i.spec))
    .split(sep)
    .join("/");
}

/** The `layers` block of docs/architecture.md: folder -> folders it may import. */
function writtenRules(): Map<string, Set<string>> {
  const doc = readFileSync(join(ROOT, "docs", "architecture.md"), "utf8");
  const block = /```layers\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error("docs/architecture.md has no ```layers block");
  const rules = new Map<string, Set<string>>();
  for (const line of block.split("\n")) {
    const m = /^([a-z-]+):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const deps = m[2]!
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    rules.set(m[1]!, new Set(deps));
  }
  return rules;
}

/** Folder-level edges actually present, with one example import for each. */
function folderEdges(): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const i of imports) {
    if (!i.spec.startsWith(".")) continue;
    const from = layerOf(i.file);
    const to = layerOf(target(i));
    if (from === to) continue;
    const m = edges.get(from) ?? new Map<string, string>();
    if (!m.has(to)) m.set(to, `${i.file} imports ${i.spec}`);
    edges.set(from, m);
  }
  return edges;
}

/** Every cycle found by a depth-first search, as "a -> b -> a". */
function cycles(edges: Map<string, Map<string, string>>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (u: string, path: string[]) => {
    state.set(u, "open");
    for (const v of edges.get(u)?.keys() ?? []) {
      if (state.get(v) === "open") found.push([...path.slice(path.indexOf(v)), u, v].join(" -> "));
      else if (!state.has(v)) visit(v, [...path, u]);
    }
    state.set(u, "done");
  };
  for (const u of edges.keys()) if (!state.has(u)) visit(u, []);
  return found;
}

/** Files importing any of `packages` (exact names or `name/…` subpaths). */
function importersOf(packages: readonly string[]): string[] {
  const hit = (spec: string) => packages.some((p) => spec === p || spec.startsWith(`${p}/`));
  return [...new Set(imports.filter((i) => hit(i.spec)).map((i) => i.file))].sort();
}

const allowedIn = (file: string, places: readonly string[]) =>
  places.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p));

/** Which files may use a package or capability (a trailing "/" means a whole folder). */
const CONFINED: readonly { what: string; packages: readonly string[]; only: readonly string[] }[] =
  [
    {
      what: "better-sqlite3",
      packages: ["better-sqlite3"],
      only: ["journal/index-db.ts", "journal/index-sql.ts"],
    },
    { what: "chokidar", packages: ["chokidar"], only: ["capture/watcher.ts"] },
    { what: "msgpackr", packages: ["msgpackr"], only: ["journal/codec.ts"] },
    { what: "zstd", packages: ["@toondepauw/node-zstd"], only: ["journal/block-codec.ts"] },
    {
      what: "worker threads",
      packages: ["node:worker_threads", "worker_threads"],
      only: ["intercept/"],
    },
    {
      what: "the network",
      packages: [
        "node:http",
        "node:https",
        "node:net",
        "node:tls",
        "node:dgram",
        "node:http2",
        "http",
        "https",
        "net",
        "tls",
        "undici",
        "@nats-io/transport-node",
        "@nats-io/jetstream",
        "@nats-io/obj",
        "@nats-io/nats-core",
      ],
      only: [
        "http/",
        "stream/http-source.ts",
        "stream/jetstream-connect.ts",
        "stream/jetstream-stream.ts",
        "stream/jetstream-publisher.ts",
        "stream/jetstream-source.ts",
        "stream/jetstream-base.ts",
        "stream/jetstream-replicas.ts",
        "cli/api-client.ts",
      ],
    },
    { what: "fastify", packages: ["fastify"], only: ["http/", "daemon/", "cli/"] },
    { what: "ajv", packages: ["ajv", "ajv-formats"], only: ["http/validation.ts"] },
  ];

/** SQL statements in source text (keywords as SQL writes them, in upper case). */
const SQL =
  /\b(SELECT\s+[\w*(]|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX))/;
/**
 * Files outside the index that still write SQL (issue 14's debt, now paid:
 * the materialisers use typed index methods). The list may only shrink.
 */
const SQL_DEBT: string[] = [];

describe("architecture (docs/architecture.md)", () => {
  it("parses the imports it checks", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(
      imports.some((i) => i.file === "journal/index-db.ts" && i.spec === "better-sqlite3"),
    ).toBe(true);
  });

  it("has no folder-level import cycle", () => {
    expect(cycles(folderEdges())).toEqual([]);
  });

  it("imports only what the written layer rules allow", () => {
    const rules = writtenRules();
    const layers = new Set(files.map(layerOf));
    const unknown = [...layers].filter((l) => !rules.has(l));
    expect(unknown, "folders without a rule in docs/architecture.md").toEqual([]);
    const forbidden: string[] = [];
    for (const [from, tos] of folderEdges()) {
      for (const [to, example] of tos) {
        if (!rules.get(from)?.has(to)) forbidden.push(`${from} -> ${to} (${example})`);
      }
    }
    expect(forbidden).toEqual([]);
  });

  it("the written rules are a layering themselves (no cycle in the table)", () => {
    const rules = writtenRules();
    const edges = new Map([...rules].map(([k, v]) => [k, new Map([...v].map((d) => [d, ""]))]));
    expect(cycles(edges)).toEqual([]);
  });

  it.each(CONFINED)("$what is used only in its module", ({ packages, only }) => {
    const outside = importersOf(packages).filter((f) => !allowedIn(f, only));
    expect(outside).toEqual([]);
  });

  it("uses no global fetch outside the network modules", () => {
    const network = CONFINED.find((c) => c.what === "the network")!.only;
    const outside = files.filter(
      (f) => /\bfetch\s*\(/.test(texts.get(f)!) && !allowedIn(f, network),
    );
    expect(outside).toEqual([]);
  });

  it("writes SQL only in journal/index-sql.ts (plus the listed debt, which only shrinks)", () => {
    const withSql = files.filter((f) => SQL.test(texts.get(f)!));
    expect(withSql).toContain("journal/index-sql.ts");
    expect(withSql.filter((f) => f !== "journal/index-sql.ts").sort()).toEqual(SQL_DEBT);
  });

  it("keeps every source file at 400 lines or fewer (one concept per module)", () => {
    const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const long = files
      .map((f) => ({ file: f, lines: lineCount(texts.get(f)!) }))
      .filter((f) => f.lines > 400);
    expect(long).toEqual([]);
  });
});
