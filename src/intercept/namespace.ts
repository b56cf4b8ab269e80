/**
 * The journal's view of one intercepted source: which relative path is which
 * journal file identity, and which paths are hard links of one inode. Turns
 * namespace changes into journal records and keeps itself in step. Pure (no
 * I/O); the filesystem (ops-*.ts) applies the change to the volume first.
 *
 * Journal paths are `<source>/<rel>`; the source root is `<source>` (rel "").
 */
import type { EntryKind, RecordBody } from "../journal/records.js";

/** One journaled path. */
export interface NsEntry {
  readonly fileId: number;
  readonly kind: EntryKind;
}

/** A path relative to the source root: "" for the root, "a/b" below it. */
export type Rel = string;

/** Joins a directory's rel and a child name. */
export function childRel(dir: Rel, name: string): Rel {
  return dir === "" ? name : `${dir}/${name}`;
}

function isAtOrBelowRel(p: Rel, prefix: Rel): boolean {
  return prefix === "" || p === prefix || p.startsWith(`${prefix}/`);
}

/** See the module comment. */
export class Namespace {
  private readonly entries = new Map<Rel, NsEntry>();
  /** Inode -> its paths, for files with more than one link. */
  private readonly links = new Map<number, Set<Rel>>();

  constructor(
    readonly source: string,
    private readonly newFileId: () => number,
  ) {}

  /** The journal path of `rel`. */
  jpath(rel: Rel): string {
    return rel === "" ? this.source : `${this.source}/${rel}`;
  }

  get size(): number {
    return this.entries.size;
  }

  get(rel: Rel): NsEntry | undefined {
    return this.entries.get(rel);
  }

  /** Records an existing journaled path (warm start after the reconcile). */
  adopt(rel: Rel, entry: NsEntry, ino?: number, nlink?: number): void {
    this.entries.set(rel, entry);
    if (entry.kind === "file" && ino !== undefined && (nlink ?? 1) > 1) this.addLink(ino, rel);
  }

  /** Every known path of inode `ino` (at least `rel`). */
  pathsOf(ino: number, rel: Rel): Set<Rel> {
    const s = this.links.get(ino);
    return s ? new Set(s) : new Set([rel]);
  }

  /** Journal identities of `paths` (paths that are not journaled are skipped). */
  fileIds(paths: Iterable<Rel>): number[] {
    const out: number[] = [];
    for (const p of paths) {
      const e = this.entries.get(p);
      if (e?.kind === "file") out.push(e.fileId);
    }
    return out;
  }

  /**
   * A new path of `kind` (create, mkdir, symlink, link): unlink of whatever
   * the journal had there, then a link with a fresh identity. The caller adds
   * size, blocks and attr.
   */
  create(rel: Rel, kind: EntryKind, target?: string): { fileId: number; records: RecordBody[] } {
    const records: RecordBody[] = [];
    if (this.entries.has(rel)) records.push(...this.remove(rel));
    const fileId = this.newFileId();
    this.entries.set(rel, { fileId, kind });
    records.push({
      type: "link",
      fileId,
      path: this.jpath(rel),
      kind,
      ...(kind === "symlink" ? { target: target ?? "" } : {}),
    });
    return { fileId, records };
  }

  /** Notes that `rel` is one more link of inode `ino` (LINK, or a link found on lookup). */
  addLink(ino: number, rel: Rel): void {
    let s = this.links.get(ino);
    if (!s) {
      s = new Set();
      this.links.set(ino, s);
    }
    s.add(rel);
  }

  /** `rel` and everything below it are gone (unlink, rmdir). */
  remove(rel: Rel): RecordBody[] {
    if (!this.entries.has(rel)) return [];
    for (const p of this.subtree(rel)) this.entries.delete(p);
    this.dropLinks(rel);
    return [{ type: "unlink", path: this.jpath(rel) }];
  }

  /** rename(2): `from` and its subtree move to `to`, replacing what was there. */
  rename(from: Rel, to: Rel): RecordBody[] {
    if (!this.entries.has(from)) return this.entries.has(to) ? this.remove(to) : [];
    for (const p of this.subtree(to)) this.entries.delete(p);
    this.dropLinks(to);
    const moved = this.subtree(from).map((p) => [p, this.entries.get(p)!] as const);
    for (const [p] of moved) this.entries.delete(p);
    for (const [p, e] of moved) this.entries.set(to + p.slice(from.length), e);
    for (const set of this.links.values()) {
      for (const p of [...set]) {
        if (isAtOrBelowRel(p, from)) {
          set.delete(p);
          set.add(to + p.slice(from.length));
        }
      }
    }
    return [{ type: "rename", from: this.jpath(from), to: this.jpath(to) }];
  }

  /** `rel` and every journaled path below it. O(paths): directory renames are rare. */
  private subtree(rel: Rel): Rel[] {
    if (rel === "") return [...this.entries.keys()];
    const out: Rel[] = [];
    if (this.entries.has(rel)) out.push(rel);
    const prefix = `${rel}/`;
    for (const p of this.entries.keys()) if (p.startsWith(prefix)) out.push(p);
    return out;
  }

  private dropLinks(rel: Rel): void {
    for (const [ino, set] of this.links) {
      for (const p of [...set]) if (isAtOrBelowRel(p, rel)) set.delete(p);
      if (set.size <= 1) this.links.delete(ino);
    }
  }
}
