/**
 * The one file writer of every materialiser (restore, drill sandbox, the
 * replica's mirror): synchronous reads and writes, adjacent ranges copied
 * into one reused run buffer of up to RUN_BYTES (the reader's blocks are
 * views of its scratch) and written at once, with a yield to the event loop every
 * YIELD_MS so the daemon keeps answering (progress, cancellation). Per-block
 * async calls cost two thread-pool round trips each and made 4 KiB-block
 * restores CPU-bound. Nothing here fsyncs: callers make the whole tree
 * durable at the end (durable.ts), off the per-file critical path.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, writev, writevSync } from "node:fs";
import { promisify } from "node:util";
import { ErrorCode, PvjError } from "../errors.js";
import type { PlannedChunk } from "../journal/chunked-plan.js";
import type { PlannedBlock } from "../journal/plan.js";
import { unwritten } from "../util/fs.js";
import type { BlockReader } from "./block-reader.js";
import { isZero } from "./tree-io.js";

/** A yield after this many bytes or milliseconds keeps the event loop responsive. */
const YIELD_BYTES = 8 * 1024 * 1024;
const YIELD_MS = 20;
/** Adjacent ranges are written together up to this size: one syscall per 1 MiB, not per 4 KiB block. */
const RUN_BYTES = 1024 * 1024;
/**
 * Runs this large go to the thread pool (up to ASYNC_RUNS in flight per
 * file) while this thread reads and hashes the next blocks: the page-cache
 * copy of a large file then runs on the other core. Smaller runs (most
 * small files) are written synchronously: a thread-pool round trip per file
 * would cost more than the write.
 */
const ASYNC_RUN_BYTES = 256 * 1024;
const ASYNC_RUNS = 4;

/** `len` bytes at `offset`: the first `block.len` from the blob, zeros for the rest (or all zeros). */
export interface PatchWrite {
  readonly offset: number;
  readonly len: number;
  readonly block: PlannedBlock | null;
}

/** One file to write. */
export type FileTask =
  /** A new file from its planned ranges; all-zero ranges stay holes. */
  | {
      readonly kind: "create";
      readonly path: string;
      readonly label: string;
      readonly size: number;
      readonly blocks: readonly PlannedBlock[];
    }
  /**
   * A new file whose planned ranges come in chunks, planned as the file is
   * written (chunked-plan.ts): a large file's plan objects then die young.
   */
  | {
      readonly kind: "chunked";
      readonly path: string;
      readonly label: string;
      readonly size: number;
      readonly chunks: Iterable<PlannedChunk>;
    }
  /** An existing file (a clone, the mirror's copy): cut to `cut` first, then `writes`, then the size. */
  | {
      readonly kind: "patch";
      readonly path: string;
      readonly label: string;
      readonly size: number;
      readonly cut: number | null;
      readonly writes: readonly PatchWrite[];
    };

/** Shared by the files of one materialisation: time slicing and cancellation. */
export class Pacer {
  private sinceYield = 0;
  private lastYield = Date.now();

  constructor(private readonly signal?: AbortSignal) {}

  /** Throws when cancelled (the message the restore contract shows). */
  check(): void {
    if (this.signal?.aborted) throw new PvjError(ErrorCode.BAD_REQUEST, "restore cancelled");
  }

  /** True when the caller should flush and `pause()`. */
  due(bytes: number): boolean {
    this.sinceYield += bytes;
    return this.sinceYield >= YIELD_BYTES || Date.now() - this.lastYield >= YIELD_MS;
  }

  async pause(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    this.sinceYield = 0;
    this.lastYield = Date.now();
    this.check();
  }
}

let zeroFill = Buffer.alloc(64 * 1024);
function zeros(n: number): Buffer {
  if (zeroFill.length < n) zeroFill = Buffer.alloc(n);
  return zeroFill.subarray(0, n);
}

/**
 * How a task's file is opened: "create" truncates (a drill's sandbox may hold
 * a clone the task replaces whole), "patch" opens it as it is.
 */
export function openFlags(t: FileTask): "w" | "r+" {
  return t.kind === "patch" ? "r+" : "w";
}

/** Writes one task; returns the bytes it covered (holes included, as progress counts them). */
export async function writeTask(
  t: FileTask,
  reader: BlockReader,
  pacer: Pacer,
  progress: (bytes: number) => void,
): Promise<number> {
  pacer.check();
  const fd = openSync(t.path, openFlags(t), 0o600);
  try {
    return await writeTaskTo(fd, t, reader, pacer, progress);
  } finally {
    closeSync(fd);
  }
}

/** writeTask on a descriptor the caller opened (open-ahead.ts) and closes. */
export async function writeTaskTo(
  fd: number,
  t: FileTask,
  reader: BlockReader,
  pacer: Pacer,
  progress: (bytes: number) => void,
): Promise<number> {
  pacer.check();
  const run = new Run(fd);
  try {
    if (t.kind === "patch" && t.cut !== null) ftruncateSync(fd, t.cut);
    let covered = 0;
    if (t.kind === "create")
      covered = await writeBlocks(run, t.blocks, t.label, reader, pacer, progress);
    else if (t.kind === "chunked") {
      for (const chunk of t.chunks) {
        const n = await writeBlocks(run, chunk.blocks, t.label, reader, pacer, progress);
        // The chunk's holes count as covered, so a chunked file's progress ends at its size.
        progress(chunk.bytes - n);
        covered += chunk.bytes;
      }
    } else {
      for (const w of t.writes) {
        const b = w.block;
        const data = b
          ? reader.read(b.hash, t.label, b.offset, b.loc).subarray(0, Math.min(b.len, w.len))
          : null;
        if (data) run.add(w.offset, data);
        if (w.len > (data?.length ?? 0))
          run.add(w.offset + (data?.length ?? 0), zeros(w.len - (data?.length ?? 0)));
        covered += w.len;
        progress(w.len);
        await paced(run, pacer, w.len);
      }
    }
    run.flush();
    await run.drain();
    // Only when the writes left another size (a trailing hole, a patch that
    // shrinks or grows): XFS answers a same-size ftruncate of freshly written
    // data with a synchronous writeback of the whole file (it moves the
    // on-disk EOF), 15-60 ms per 16 MiB file on the main thread, which made
    // materialisation onto XFS up to 4x slower than cp.
    if (fstatSync(fd).size !== t.size) ftruncateSync(fd, t.size);
    return covered;
  } finally {
    await run.settle();
  }
}

/** Writes planned ranges into the run; returns their bytes. All-zero ranges stay holes. */
async function writeBlocks(
  run: Run,
  blocks: readonly PlannedBlock[],
  label: string,
  reader: BlockReader,
  pacer: Pacer,
  progress: (bytes: number) => void,
): Promise<number> {
  let covered = 0;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    const slice = reader.readPlanned(blocks, i, label).subarray(0, b.len);
    // All-zero ranges stay holes: sparse files stay sparse.
    if (isZero(slice)) run.flush();
    else run.add(b.offset, slice);
    covered += b.len;
    progress(b.len);
    await paced(run, pacer, b.len);
  }
  return covered;
}

/** Bounds the writes in flight and yields to the event loop when the pacer says so. */
async function paced(run: Run, pacer: Pacer, bytes: number): Promise<void> {
  if (run.backlog()) await run.drain(1);
  if (pacer.due(bytes)) {
    run.flush();
    await pacer.pause();
  }
}

const writevAsync = promisify(writev);

/**
 * Run buffers (RUN_BYTES each) shared by every file's runs, reused: a block
 * the reader returns is a view of its scratch, valid until its next read, so
 * a run copies it, and a fresh 1 MiB buffer per run would cost a page fault
 * per 4 KiB (64 MiB of them: 50-74 ms here against under 1 ms reused). At most
 * ASYNC_RUNS are in flight per file plus the one filling; POOL_KEEP are kept
 * between materialisations (5 MiB in a daemon).
 */
const pool: Buffer[] = [];
const POOL_KEEP = ASYNC_RUNS + 1;

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafe(RUN_BYTES);
}

function giveBack(buf: Buffer): void {
  if (pool.length < POOL_KEEP) pool.push(buf);
}

/** Adjacent ranges copied into one run buffer and written with one positioned write. */
class Run {
  private buf: Buffer | null = null;
  private start = 0;
  private len = 0;
  private readonly inflight: Promise<void>[] = [];

  constructor(private readonly fd: number) {}

  /** True when ASYNC_RUNS writes are in flight. */
  backlog(): boolean {
    return this.inflight.length >= ASYNC_RUNS;
  }

  /** Waits until at most `keep` writes are in flight (the oldest first); throws a write's error. */
  async drain(keep = 0): Promise<void> {
    while (this.inflight.length > keep) await this.inflight.shift();
  }

  /** Waits for every write in flight, ignoring errors (the descriptor is about to close). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inflight.splice(0));
    if (this.buf) giveBack(this.buf);
    this.buf = null;
    this.len = 0;
  }

  /** Adds `data` at `offset`: copied now, so the caller may reuse its buffer at once. */
  add(offset: number, data: Buffer): void {
    if (this.len > 0 && (this.start + this.len !== offset || this.len + data.length > RUN_BYTES))
      this.flush();
    if (data.length > RUN_BYTES) {
      // A block larger than a run buffer (journal.blockSize above 1 MiB): written from the view now.
      writevAllSync(this.fd, [data], offset);
      return;
    }
    if (this.len === 0) this.start = offset;
    this.buf ??= takeBuffer();
    this.len += data.copy(this.buf, this.len);
  }

  flush(): void {
    const buf = this.buf;
    if (!buf || this.len === 0) return;
    const bytes = buf.subarray(0, this.len);
    this.len = 0;
    if (bytes.length >= ASYNC_RUN_BYTES) {
      // The buffer is the write's until it completes; the next run takes another.
      this.buf = null;
      const p = writevAllAsync(this.fd, [bytes], this.start).finally(() => giveBack(buf));
      // Handled by drain() or settle(); never an unhandled rejection meanwhile.
      p.catch(() => undefined);
      this.inflight.push(p);
    } else writevAllSync(this.fd, [bytes], this.start);
  }
}

/** writevAllSync through the thread pool. */
async function writevAllAsync(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let pos = position;
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten: n } = await writevAsync(fd, rest, pos);
    if (n <= 0) throw new Error(`writev made no progress at offset ${pos}`);
    pos += n;
    rest = unwritten(rest, n);
  }
}

/** writev until every byte is written (short writes are legal); no progress is an error. */
function writevAllSync(fd: number, buffers: Buffer[], position: number): void {
  let pos = position;
  let rest = buffers;
  while (rest.length > 0) {
    const n = writevSync(fd, rest, pos);
    if (n <= 0) throw new Error(`writev made no progress at offset ${pos}`);
    pos += n;
    rest = unwritten(rest, n);
  }
}
