import { Journal } from "../../src/journal/journal.js";
import type { RecordBody } from "../../src/journal/records.js";
import { BlockHasher } from "../../src/util/hash.js";
import type { prng } from "./prng.js";
import type { TreeEntry } from "./tree.js";

/** One path of the in-memory reference volume. */
interface ModelEntry {
  kind: "file" | "dir" | "symlink";
  fileId: number;
  mode: number;
  mtimeMs: number;
  content: Buffer;
  target?: string;
}

/**
 * An in-memory volume that mirrors each operation into a journal as the
 * capture would (changed blocks, sizes, attributes, namespace records), so a
 * restore can be compared with the model at any point.
 */
export class VolumeModel {
  readonly entries = new Map<string, ModelEntry>();
  private readonly known = new Map<number, Buffer[]>(); // fileId -> block hashes as journaled
  private mtime = 1_700_000_000_000;

  constructor(
    readonly journal: Journal,
    private readonly hasher: BlockHasher,
    readonly rand: ReturnType<typeof prng>,
    readonly source = "data",
  ) {}

  /** Content of new files and writes (a compression test swaps in compressible bytes). */
  bytes: (n: number) => Buffer = (n) => this.rand.bytes(n);

  /** Creates the source root. */
  async init(): Promise<void> {
    await this.mkdir(this.source);
  }

  private tick(): number {
    this.mtime += this.rand.int(1, 5000);
    return this.mtime;
  }

  private contentRecords(e: ModelEntry, oldSize: number | null): RecordBody[] {
    const bs = this.journal.blockSize;
    const out: RecordBody[] = [];
    const prev = this.known.get(e.fileId) ?? [];
    const next: Buffer[] = [];
    const n = Math.ceil(e.content.length / bs);
    for (let b = 0; b < n; b++) {
      const data = e.content.subarray(b * bs, Math.min((b + 1) * bs, e.content.length));
      const h = this.hasher.hash(data);
      next.push(h);
      if (!prev[b]?.equals(h)) {
        out.push({ type: "blob", hash: h, data: Buffer.from(data) });
        out.push({ type: "write", fileId: e.fileId, block: b, len: data.length, hash: h });
      }
    }
    this.known.set(e.fileId, next);
    if (oldSize !== e.content.length)
      out.push({ type: "size", fileId: e.fileId, size: e.content.length });
    return out;
  }

  private attr(e: ModelEntry): RecordBody {
    return { type: "attr", fileId: e.fileId, mode: e.mode, mtimeMs: e.mtimeMs };
  }

  async mkdir(path: string): Promise<void> {
    const e: ModelEntry = {
      kind: "dir",
      fileId: this.journal.allocateFileId(),
      mode: 0o755,
      mtimeMs: this.tick(),
      content: Buffer.alloc(0),
    };
    this.entries.set(path, e);
    await this.journal.append([
      { type: "link", fileId: e.fileId, path, kind: "dir" },
      this.attr(e),
    ]);
  }

  async createFile(path: string, content: Buffer, mode = 0o644): Promise<void> {
    const e: ModelEntry = {
      kind: "file",
      fileId: this.journal.allocateFileId(),
      mode,
      mtimeMs: this.tick(),
      content,
    };
    this.entries.set(path, e);
    await this.journal.append([
      { type: "link", fileId: e.fileId, path, kind: "file" },
      ...this.contentRecords(e, null),
      this.attr(e),
    ]);
  }

  async symlink(path: string, target: string): Promise<void> {
    const e: ModelEntry = {
      kind: "symlink",
      fileId: this.journal.allocateFileId(),
      mode: 0o777,
      mtimeMs: this.tick(),
      content: Buffer.alloc(0),
      target,
    };
    this.entries.set(path, e);
    await this.journal.append([
      { type: "link", fileId: e.fileId, path, kind: "symlink", target },
      this.attr(e),
    ]);
  }

  async write(path: string, offset: number, data: Buffer): Promise<void> {
    const e = this.entries.get(path)!;
    const old = e.content.length;
    const size = Math.max(old, offset + data.length);
    const c = Buffer.alloc(size);
    e.content.copy(c);
    data.copy(c, offset);
    e.content = c;
    e.mtimeMs = this.tick();
    await this.journal.append([...this.contentRecords(e, old), this.attr(e)]);
  }

  async truncate(path: string, size: number): Promise<void> {
    const e = this.entries.get(path)!;
    const old = e.content.length;
    const c = Buffer.alloc(size);
    e.content.copy(c, 0, 0, Math.min(size, old));
    e.content = c;
    e.mtimeMs = this.tick();
    await this.journal.append([...this.contentRecords(e, old), this.attr(e)]);
  }

  async chmod(path: string, mode: number): Promise<void> {
    const e = this.entries.get(path)!;
    e.mode = mode;
    await this.journal.append([this.attr(e)]);
  }

  async remove(path: string): Promise<void> {
    for (const k of [...this.entries.keys()])
      if (k === path || k.startsWith(`${path}/`)) this.entries.delete(k);
    await this.journal.append([{ type: "unlink", path }]);
  }

  async rename(from: string, to: string): Promise<void> {
    const moved: [string, ModelEntry][] = [];
    for (const [k, e] of this.entries)
      if (k === from || k.startsWith(`${from}/`)) moved.push([to + k.slice(from.length), e]);
    for (const k of [...this.entries.keys()]) {
      if (k === from || k.startsWith(`${from}/`) || k === to || k.startsWith(`${to}/`))
        this.entries.delete(k);
    }
    for (const [k, e] of moved) this.entries.set(k, e);
    await this.journal.append([{ type: "rename", from, to }]);
  }

  /** The model as a tree keyed like readTree(target). */
  snapshot(): Map<string, TreeEntry> {
    const out = new Map<string, TreeEntry>();
    for (const [p, e] of this.entries) {
      out.set(p, {
        kind: e.kind,
        mode: e.kind === "symlink" ? 0 : e.mode,
        mtimeMs: e.mtimeMs,
        ...(e.kind === "file" ? { content: Buffer.from(e.content) } : {}),
        ...(e.target !== undefined ? { target: e.target } : {}),
      });
    }
    return out;
  }

  /** Applies one random operation. */
  async randomOp(): Promise<string> {
    const r = this.rand;
    const bs = this.journal.blockSize;
    const dirs = [...this.entries].filter(([, e]) => e.kind === "dir").map(([p]) => p);
    const files = [...this.entries].filter(([, e]) => e.kind === "file").map(([p]) => p);
    const nonRoot = [...this.entries.keys()].filter((p) => p !== this.source);
    const fresh = () => `${r.pick(dirs)}/n${r.int(0, 99999)}`;
    const roll = r.next();
    if (roll < 0.1) {
      const p = fresh();
      if (!this.entries.has(p)) await this.mkdir(p);
      return `mkdir ${p}`;
    }
    if (roll < 0.3 || files.length === 0) {
      const p = fresh();
      if (this.entries.has(p)) return "noop";
      const len = r.chance(0.2) ? 0 : r.int(1, bs * 3);
      await this.createFile(p, this.bytes(len), r.pick([0o644, 0o600, 0o755, 0o444]));
      return `create ${p} ${len}`;
    }
    if (roll < 0.6) {
      const p = r.pick(files);
      const size = this.entries.get(p)!.content.length;
      const off = r.chance(0.15) ? size + r.int(bs, bs * 4) : r.int(0, size);
      const data = r.chance(0.1) ? Buffer.alloc(r.int(1, bs)) : this.bytes(r.int(1, bs * 2));
      await this.write(p, off, data);
      return `write ${p} @${off} ${data.length}`;
    }
    if (roll < 0.7) {
      const p = r.pick(files);
      const size = this.entries.get(p)!.content.length;
      const ns = r.chance(0.5) ? r.int(0, size) : size + r.int(1, bs * 2);
      await this.truncate(p, ns);
      return `truncate ${p} ${ns}`;
    }
    if (roll < 0.75) {
      const p = fresh();
      if (this.entries.has(p)) return "noop";
      await this.symlink(p, r.pick(["../x", "target/file", "/etc/hostname", "n1"]));
      return `symlink ${p}`;
    }
    if (roll < 0.82) {
      const p = r.pick(files);
      await this.chmod(p, r.pick([0o644, 0o600, 0o755, 0o400]));
      return `chmod ${p}`;
    }
    if (roll < 0.9 && nonRoot.length > 0) {
      const p = r.pick(nonRoot);
      await this.remove(p);
      return `remove ${p}`;
    }
    if (nonRoot.length > 0) {
      const from = r.pick(nonRoot);
      const candidates = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`));
      if (candidates.length === 0) return "noop";
      const to = `${r.pick(candidates)}/m${r.int(0, 99999)}`;
      const dst = this.entries.get(to);
      if (dst?.kind === "dir") return "noop";
      await this.rename(from, to);
      return `rename ${from} ${to}`;
    }
    return "noop";
  }
}

/** Opens a journal plus hasher for a test. */
export async function openTestJournal(
  dir: string,
  opts: { blockSize?: number; segmentSize?: number; clock?: () => number } = {},
) {
  const journal = await Journal.open({
    dir,
    blockSize: opts.blockSize ?? 4096,
    segmentSize: opts.segmentSize ?? 256 * 1024,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return { journal, hasher: await BlockHasher.create() };
}
