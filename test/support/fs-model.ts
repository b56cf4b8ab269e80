/**
 * An in-memory model of a small POSIX tree for the intercept tests: inodes
 * (so hard links share contents), directories, symlinks and modes. Random
 * operations are applied to the model and, through node:fs, to a real
 * directory (the FUSE mount); the two must agree at every checkpoint.
 */
import {
  chmod,
  link,
  mkdir,
  open,
  rename,
  rm,
  rmdir,
  symlink,
  truncate,
  unlink,
} from "node:fs/promises";
import { join } from "node:path";
import type { prng } from "./prng.js";
import type { TreeEntry } from "./tree.js";

interface FileInode {
  kind: "file";
  content: Buffer;
  mode: number;
}
type Entry = FileInode | { kind: "dir"; mode: number } | { kind: "symlink"; target: string };

type Rand = ReturnType<typeof prng>;

/** See the module comment. */
export class FsModel {
  readonly paths = new Map<string, Entry>();
  private counter = 0;

  constructor(
    readonly root: string,
    private readonly rand: Rand,
    private readonly blockSize: number,
  ) {}

  /** The model as a tree (no mtimes: compared separately). */
  tree(): Map<string, Omit<TreeEntry, "mtimeMs">> {
    const out = new Map<string, Omit<TreeEntry, "mtimeMs">>();
    for (const p of [...this.paths.keys()].sort()) {
      const e = this.paths.get(p)!;
      if (e.kind === "file")
        out.set(p, { kind: "file", mode: e.mode, content: Buffer.from(e.content) });
      else if (e.kind === "dir") out.set(p, { kind: "dir", mode: e.mode });
      else out.set(p, { kind: "symlink", mode: 0, target: e.target });
    }
    return out;
  }

  private files(): string[] {
    return [...this.paths].filter(([, e]) => e.kind === "file").map(([p]) => p);
  }

  private dirs(): string[] {
    return ["", ...[...this.paths].filter(([, e]) => e.kind === "dir").map(([p]) => p)];
  }

  private freshName(): string {
    const dir = this.rand.pick(this.dirs());
    const name = `n${++this.counter}`;
    return dir === "" ? name : `${dir}/${name}`;
  }

  private abs(p: string): string {
    return join(this.root, p);
  }

  /** Applies one random operation to the model and the real tree; returns its description. */
  async step(): Promise<string> {
    const r = this.rand;
    const files = this.files();
    const roll = r.int(0, 99);
    if (files.length === 0 || roll < 35)
      return this.write(files.length > 0 && r.chance(0.7) ? r.pick(files) : this.freshName());
    if (roll < 45) return this.truncate(r.pick(files));
    if (roll < 53) return this.renameFile(r.pick(files));
    if (roll < 59) return this.link(r.pick(files));
    if (roll < 65) return this.unlinkOpen(r.pick(files));
    if (roll < 71) return this.chmod(r.pick(files));
    if (roll < 78) return this.mkdir();
    if (roll < 82) return this.rmdir();
    if (roll < 86) return this.symlink();
    if (roll < 93) return this.unlink(r.pick(files));
    return this.renameDir();
  }

  private inode(p: string): FileInode {
    const e = this.paths.get(p);
    if (e?.kind === "file") return e;
    const fresh: FileInode = { kind: "file", content: Buffer.alloc(0), mode: 0o644 };
    this.paths.set(p, fresh);
    return fresh;
  }

  private async write(p: string): Promise<string> {
    const r = this.rand;
    const bs = this.blockSize;
    const existing = this.paths.get(p);
    const ino = this.inode(p);
    const size = ino.content.length;
    // Around block boundaries, inside, past the end (sparse), or far out.
    const offset = r.chance(0.1)
      ? size + r.int(1, 40) * bs
      : r.chance(0.3)
        ? r.int(0, 3) * bs + r.pick([-1, 0, 1]) * r.int(0, 7)
        : r.int(0, size + bs);
    const off = Math.max(0, offset);
    const data = r.bytes(r.pick([1, 100, bs - 1, bs, bs + 1, 3 * bs + 17]));
    const fh = await open(this.abs(p), existing ? "r+" : "w", 0o644);
    try {
      await fh.write(data, 0, data.length, off);
    } finally {
      await fh.close();
    }
    const end = off + data.length;
    if (end > size) ino.content = Buffer.concat([ino.content, Buffer.alloc(end - size)]);
    data.copy(ino.content, off);
    return `write ${p} @${off} +${data.length}`;
  }

  private async truncate(p: string): Promise<string> {
    const ino = this.inode(p);
    const size = this.rand.pick([
      0,
      1,
      this.blockSize - 3,
      this.blockSize,
      ino.content.length + 5000,
    ]);
    await truncate(this.abs(p), size);
    ino.content =
      size <= ino.content.length
        ? Buffer.from(ino.content.subarray(0, size))
        : Buffer.concat([ino.content, Buffer.alloc(size - ino.content.length)]);
    return `truncate ${p} ${size}`;
  }

  private async renameFile(p: string): Promise<string> {
    const others = this.files().filter((f) => f !== p && this.paths.get(f) !== this.paths.get(p));
    const to =
      others.length > 0 && this.rand.chance(0.5) ? this.rand.pick(others) : this.freshName();
    await rename(this.abs(p), this.abs(to));
    this.paths.set(to, this.paths.get(p)!);
    this.paths.delete(p);
    return `rename ${p} -> ${to}`;
  }

  private async link(p: string): Promise<string> {
    const to = this.freshName();
    await link(this.abs(p), this.abs(to));
    this.paths.set(to, this.paths.get(p)!);
    return `link ${p} -> ${to}`;
  }

  /** Opens, unlinks, writes to the open file, closes: the write reaches no path. */
  private async unlinkOpen(p: string): Promise<string> {
    const fh = await open(this.abs(p), "r+");
    try {
      await unlink(this.abs(p));
      await fh.write(Buffer.from("after unlink"), 0, 12, 0);
    } finally {
      await fh.close();
    }
    const ino = this.paths.get(p) as FileInode;
    this.paths.delete(p);
    // Another hard link still sees the write.
    if ([...this.paths.values()].includes(ino)) {
      const data = Buffer.from("after unlink");
      if (ino.content.length < 12)
        ino.content = Buffer.concat([ino.content, Buffer.alloc(12 - ino.content.length)]);
      data.copy(ino.content, 0);
    }
    return `unlink-open ${p}`;
  }

  private async chmod(p: string): Promise<string> {
    const mode = this.rand.pick([0o600, 0o644, 0o640, 0o755]);
    await chmod(this.abs(p), mode);
    (this.paths.get(p) as FileInode).mode = mode;
    return `chmod ${p} ${mode.toString(8)}`;
  }

  private async mkdir(): Promise<string> {
    const p = this.freshName();
    await mkdir(this.abs(p), { mode: 0o755 });
    this.paths.set(p, { kind: "dir", mode: 0o755 });
    return `mkdir ${p}`;
  }

  private async rmdir(): Promise<string> {
    const empty = this.dirs().filter(
      (d) => d !== "" && ![...this.paths.keys()].some((p) => p.startsWith(`${d}/`)),
    );
    if (empty.length === 0) return this.mkdir();
    const d = this.rand.pick(empty);
    await rmdir(this.abs(d));
    this.paths.delete(d);
    return `rmdir ${d}`;
  }

  private async symlink(): Promise<string> {
    const p = this.freshName();
    const target = this.rand.pick(["n1", "../x", "/etc/passwd", "a/b/c"]);
    await symlink(target, this.abs(p));
    this.paths.set(p, { kind: "symlink", target });
    return `symlink ${p} -> ${target}`;
  }

  private async unlink(p: string): Promise<string> {
    await rm(this.abs(p));
    this.paths.delete(p);
    return `unlink ${p}`;
  }

  private async renameDir(): Promise<string> {
    const dirs = this.dirs().filter((d) => d !== "");
    if (dirs.length === 0) return this.mkdir();
    const from = this.rand.pick(dirs);
    const to = this.freshName();
    if (to.startsWith(`${from}/`)) return this.mkdir();
    await rename(this.abs(from), this.abs(to));
    for (const [p, e] of [...this.paths]) {
      if (p === from || p.startsWith(`${from}/`)) {
        this.paths.delete(p);
        this.paths.set(to + p.slice(from.length), e);
      }
    }
    return `rename-dir ${from} -> ${to}`;
  }
}
