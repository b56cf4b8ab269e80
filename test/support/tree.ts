import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

/** What a test compares about one path. */
export interface TreeEntry {
  kind: "file" | "dir" | "symlink";
  mode: number;
  mtimeMs: number;
  content?: Buffer;
  target?: string;
}

/** Reads a directory tree into path -> entry (paths relative, `/`-separated; root excluded). */
export async function readTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p);
      if (st.isSymbolicLink())
        out.set(r, { kind: "symlink", mode: 0, mtimeMs: st.mtimeMs, target: await readlink(p) });
      else if (st.isDirectory()) {
        out.set(r, { kind: "dir", mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
        await walk(p, r);
      } else
        out.set(r, {
          kind: "file",
          mode: st.mode & 0o7777,
          mtimeMs: st.mtimeMs,
          content: await readFile(p),
        });
    }
  };
  await walk(root, "");
  return out;
}

/** Human-readable differences between two trees ([] when equal). */
export function diffTrees(
  want: Map<string, TreeEntry>,
  got: Map<string, TreeEntry>,
  opts: { mtimes?: boolean; dirMtimes?: boolean } = {},
): string[] {
  const out: string[] = [];
  for (const [p, w] of want) {
    const g = got.get(p);
    if (!g) {
      out.push(`missing ${p}`);
      continue;
    }
    if (g.kind !== w.kind) out.push(`${p}: kind ${g.kind} != ${w.kind}`);
    else if (w.kind === "symlink" && g.target !== w.target)
      out.push(`${p}: target ${g.target} != ${w.target}`);
    else if (w.kind === "file" && !g.content!.equals(w.content!)) {
      out.push(`${p}: content differs (size ${g.content!.length} vs ${w.content!.length})`);
    }
    if (w.kind !== "symlink" && g.mode !== w.mode)
      out.push(`${p}: mode ${g.mode.toString(8)} != ${w.mode.toString(8)}`);
    const checkMtime = w.kind === "dir" ? opts.dirMtimes : opts.mtimes;
    if (checkMtime && Math.abs(g.mtimeMs - w.mtimeMs) > 1)
      out.push(`${p}: mtime ${g.mtimeMs} != ${w.mtimeMs}`);
  }
  for (const p of got.keys()) if (!want.has(p)) out.push(`unexpected ${p}`);
  return out;
}

/** A digest of a tree (paths, kinds, modes, file mtimes, contents, link targets). */
export function treeDigest(tree: Map<string, TreeEntry>): string {
  const h = createHash("sha256");
  for (const p of [...tree.keys()].sort()) {
    const e = tree.get(p)!;
    h.update(
      `${p}\0${e.kind}\0${e.kind === "symlink" ? 0 : e.mode}\0${e.kind === "file" ? Math.round(e.mtimeMs) : 0}\0${e.target ?? ""}\0`,
    );
    if (e.content) h.update(e.content);
    h.update("\n");
  }
  return h.digest("hex");
}
