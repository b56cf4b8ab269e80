import {
  chmod,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  symlink,
  truncate,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import type { prng } from "./prng.js";

type Rand = ReturnType<typeof prng>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A seeded random writer on a real directory: creates, overwrites at random
 * offsets, appends, truncates, deletes, renames across directories, chmod,
 * symlinks, empty and sparse files, and bursts of writes 5-40 ms apart.
 */
export class FsWriter {
  private n = 0;

  constructor(
    readonly root: string,
    readonly rand: Rand,
    readonly blockSize: number,
  ) {}

  private async list(): Promise<{ dirs: string[]; files: string[]; all: string[] }> {
    const dirs = [""];
    const files: string[] = [];
    const all: string[] = [];
    const walk = async (rel: string) => {
      for (const name of await readdir(join(this.root, rel))) {
        const p = rel ? `${rel}/${name}` : name;
        const st = await lstat(join(this.root, p));
        all.push(p);
        if (st.isDirectory()) {
          dirs.push(p);
          await walk(p);
        } else if (st.isFile()) files.push(p);
      }
    };
    await walk("");
    return { dirs, files, all };
  }

  private abs(p: string): string {
    return join(this.root, p);
  }

  private fresh(dirs: string[], prefix: string): string {
    this.n += 1;
    const d = this.rand.pick(dirs);
    return d ? `${d}/${prefix}${this.n}` : `${prefix}${this.n}`;
  }

  private async pwrite(p: string, offset: number, data: Buffer): Promise<void> {
    const fh = await open(this.abs(p), "r+");
    try {
      await fh.write(data, 0, data.length, offset);
    } finally {
      await fh.close();
    }
  }

  /** One random operation; returns a description for failure messages. */
  async step(): Promise<string> {
    const r = this.rand;
    const bs = this.blockSize;
    const { dirs, files, all } = await this.list();
    const roll = r.next();
    if (roll < 0.08) {
      const p = this.fresh(dirs, "d");
      await mkdir(this.abs(p));
      return `mkdir ${p}`;
    }
    if (roll < 0.25 || files.length === 0) {
      const p = this.fresh(dirs, "f");
      const len = r.chance(0.2) ? 0 : r.int(1, bs * 3);
      await writeFile(this.abs(p), r.bytes(len), { mode: r.pick([0o644, 0o600, 0o755, 0o444]) });
      return `create ${p} ${len}`;
    }
    const f = r.pick(files);
    const size = (await lstat(this.abs(f))).size;
    if (roll < 0.4) {
      const off = r.int(0, size);
      const data = r.bytes(r.int(1, bs * 2));
      await chmod(this.abs(f), 0o644);
      await this.pwrite(f, off, data);
      return `overwrite ${f} @${off} ${data.length}`;
    }
    if (roll < 0.47) {
      await chmod(this.abs(f), 0o644);
      const data = r.bytes(r.int(1, bs));
      await this.pwrite(f, size, data);
      return `append ${f} ${data.length}`;
    }
    if (roll < 0.52) {
      // sparse: a write far past the end leaves a hole
      await chmod(this.abs(f), 0o644);
      const off = size + r.int(bs * 4, bs * 40);
      await this.pwrite(f, off, r.bytes(r.int(1, 100)));
      return `sparse ${f} @${off}`;
    }
    if (roll < 0.6) {
      const ns = r.chance(0.5) ? r.int(0, size) : size + r.int(1, bs * 2);
      await truncate(this.abs(f), ns);
      return `truncate ${f} ${ns}`;
    }
    if (roll < 0.66) {
      const p = this.fresh(dirs, "l");
      await symlink(r.pick(["../x", "target/file", "/etc/hostname", f]), this.abs(p));
      return `symlink ${p}`;
    }
    if (roll < 0.72) {
      await chmod(this.abs(f), r.pick([0o644, 0o600, 0o755, 0o400]));
      return `chmod ${f}`;
    }
    if (roll < 0.8 && all.length > 0) {
      const p = r.pick(all);
      await rm(this.abs(p), { recursive: true, force: true });
      return `remove ${p}`;
    }
    if (roll < 0.9 && all.length > 0) {
      const from = r.pick(all);
      const candidates = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`));
      if (candidates.length === 0) return "noop";
      const d = r.pick(candidates);
      this.n += 1;
      const to = d ? `${d}/m${this.n}` : `m${this.n}`;
      await rename(this.abs(from), this.abs(to));
      return `rename ${from} ${to}`;
    }
    // burst: several writes to one file 5-40 ms apart (chokidar drops all but the first)
    await chmod(this.abs(f), 0o644);
    const k = r.int(3, 8);
    for (let i = 0; i < k; i++) {
      const cur = (await lstat(this.abs(f))).size;
      await this.pwrite(f, r.int(0, cur), r.bytes(r.int(1, 64)));
      await sleep(r.int(5, 40));
    }
    return `burst ${f} x${k}`;
  }
}
