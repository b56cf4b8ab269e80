/**
 * Per-block compression. zstd through `@toondepauw/node-zstd` (the zstd crate
 * built by napi-rs, its Linux binary shipped as a registry package: no
 * download or install script) because it has synchronous calls, which
 * `Journal.readBlobSync` needs. The only module that imports it.
 *
 * Decoding goes through libzstd's decoder compiled to wasm (zstd-decoder.ts):
 * the napi package builds a fresh streaming decoder for every call, 21 us
 * per 4 KiB block on this machine, against 7-8 us for the wasm one-shot
 * decoder (32k blocks of the peers-dbfile workload, same run). A 128 MiB
 * restore of 4 KiB blocks decodes 32k of them. The wasm module is
 * instantiated once, when this module loads (top-level await, ~ms).
 *
 * A blob is compressed alone, so any block reads back by random access. Its
 * hash (dedup and the restore's integrity check) is always over the block
 * itself, never over the stored bytes. A block that does not shrink by at
 * least 1/32 is stored raw: a restore would pay a decompress for nothing.
 */
import { createRequire } from "node:module";
import type { Encoder } from "@toondepauw/node-zstd";
import { CorruptionError } from "../errors.js";
import type { BlobPacking, BlobRecord, RecordBody } from "./records.js";
import { initZstdDecoder, zstdDecode } from "./zstd-decoder.js";

/** Codec ids as written in a packed blob's codec byte (codec.ts). 0 is never written. */
export const BlockCodec = { zstd: 1 } as const;

/** What a journal does with the blocks it appends. */
export interface CompressionOptions {
  /** "none" stores every block raw (journals written before 0.2 read the same). */
  readonly codec: "zstd" | "none";
  /**
   * zstd level. Measured on this project's bench data (one core,
   * native-free-benchmarks/compression-levels.mjs): level 1
   * compresses 4 KiB blocks at ~350 MB/s and text logs to 0.24 of their size;
   * level 3 gives 0.23 at ~230 MB/s, level 9 0.23 at ~35 MB/s. 64 KiB blocks:
   * 1 → 0.215 at ~400 MB/s, 9 → 0.199 at ~100 MB/s.
   */
  readonly level: number;
}

/** Level 1: the knee of ratio against capture CPU (see CompressionOptions.level). */
export const DEFAULT_COMPRESSION: CompressionOptions = { codec: "zstd", level: 1 };

/**
 * Appends with more blob bytes than this are compressed on the libuv thread
 * pool instead of the event loop: 256 KiB at ~350 MB/s blocks the loop for
 * under 1 ms, while a 64 MiB intercept batch would block it for ~180 ms.
 */
export const SYNC_PACK_BYTES = 256 * 1024;

/**
 * The native encoder is loaded on the first packer that compresses: restores,
 * verify and the other read-only tools never encode, and loading the binding
 * (it probes for its platform package) costs ~20 ms of their start.
 */
let encoderClass: typeof Encoder | null = null;
function newEncoder(level: number): Encoder {
  encoderClass ??= (
    createRequire(import.meta.url)("@toondepauw/node-zstd") as { Encoder: typeof Encoder }
  ).Encoder;
  return new encoderClass(level);
}

await initZstdDecoder();

/**
 * Most blocks a packer stores raw without trying after blocks that did not
 * compress. From the second failed try in a row it skips 1, 2, 4 ... up to 16
 * blocks, so an incompressible volume (media, encrypted data) costs one try
 * in 17 blocks instead of one per block (~11 us per 4 KiB try, on the append
 * path: 4000 random 4 KiB appends by 32 writers lost ~30% group commit
 * throughput to it). One block that compresses resets it; a single
 * incompressible block among compressible ones skips nothing.
 */
export const MAX_SKIP = 16;

/**
 * Tries in flight at once on the thread pool (4 threads): enough to keep it
 * busy on compressible blocks, few enough that a run of incompressible ones
 * is noticed after one wave.
 */
export const PACK_WAVE = 16;

/** Compresses the raw blobs of appends (see the module comment). */
export class BlockPacker {
  private encoder: Encoder | null = null;
  /** Blocks still to store without a try; failed tries in a row. */
  private skip = 0;
  private fails = 0;
  /** Blocks sent to the encoder (diagnostics, tests). */
  tries = 0;

  constructor(private readonly opts: CompressionOptions = DEFAULT_COMPRESSION) {}

  /** True when this packer stores blocks raw. */
  get off(): boolean {
    return this.opts.codec !== "zstd";
  }

  /** The encoder, made on first use (see newEncoder); null when compression is off. */
  private get enc(): Encoder | null {
    if (this.off) return null;
    this.encoder ??= newEncoder(this.opts.level);
    return this.encoder;
  }

  /**
   * `bodies` with every raw blob compressed where that pays. Synchronous (an
   * array) for small appends, a promise for large ones; order is kept.
   */
  pack(bodies: readonly RecordBody[]): readonly RecordBody[] | Promise<readonly RecordBody[]> {
    if (this.off) return bodies;
    let bytes = 0;
    for (const b of bodies) if (b.type === "blob" && !b.packed) bytes += b.data.length;
    const enc = bytes === 0 ? null : this.enc;
    if (!enc) return bodies;
    if (bytes <= SYNC_PACK_BYTES)
      return bodies.map((b) => {
        if (b.type !== "blob" || b.packed || !this.shouldTry()) return b;
        this.tries += 1;
        return this.learn(choose(b, safeSync(enc, b.data)), b);
      });
    return this.packAsync(bodies, enc);
  }

  /**
   * pack on the thread pool. Blocks are tried PACK_WAVE at a time while they
   * compress; once tries fail in a row (the skipping regime), each decision
   * waits for the tries in flight, as the synchronous path learns from each
   * try before the next. Deciding them all up front tried nearly every block
   * of a 4 MiB capture batch of incompressible data, not one in 17: 11-24 ms
   * of CPU per append of 900 random 1-8 KiB blocks, against 2.5-10 ms now.
   * One promise per block tried, not one per record.
   */
  private async packAsync(
    bodies: readonly RecordBody[],
    enc: Encoder,
  ): Promise<readonly RecordBody[]> {
    const out = bodies.slice();
    let inflight: Promise<void>[] = [];
    for (let i = 0; i < out.length; i++) {
      const b = out[i]!;
      if (b.type !== "blob" || b.packed) continue;
      if (inflight.length >= PACK_WAVE || (this.fails >= 2 && inflight.length > 0)) {
        await Promise.all(inflight);
        inflight = [];
      }
      if (!this.shouldTry()) continue;
      this.tries += 1;
      inflight.push(
        enc.encode(b.data).then(
          (packed) => {
            out[i] = this.learn(choose(b, packed), b);
          },
          () => {
            this.learn(b, b);
          },
        ),
      );
    }
    await Promise.all(inflight);
    return out;
  }

  /** One blob, compressed where that pays (no skipping: for tests and tools). */
  packBlobSync(rec: BlobRecord): BlobRecord {
    return this.enc && !rec.packed ? choose(rec, safeSync(this.enc, rec.data)) : rec;
  }

  private shouldTry(): boolean {
    if (this.skip === 0) return true;
    this.skip -= 1;
    return false;
  }

  /** Notes whether a try paid (the result is `out`, the input `raw`); returns `out`. */
  private learn(out: BlobRecord, raw: BlobRecord): BlobRecord {
    this.fails = out !== raw ? 0 : this.fails + 1;
    this.skip = this.fails < 2 ? 0 : Math.min(MAX_SKIP, 2 ** (this.fails - 2));
    return out;
  }
}

/** A compression failure is not a capture failure: the block is stored raw. */
function safeSync(enc: Encoder, data: Buffer): Buffer | null {
  try {
    return enc.encodeSync(data);
  } catch {
    return null;
  }
}

function choose(rec: BlobRecord, packed: Buffer | null): BlobRecord {
  const raw = rec.data.length;
  if (!packed || packed.length + PACKED_HEADER_BYTES > raw - raw / 32) return rec;
  const packing: BlobPacking = { codec: BlockCodec.zstd, rawLen: raw };
  return { type: "blob", hash: rec.hash, data: packed, packed: packing };
}

/** Bytes a packed blob stores before its compressed data: codec u8, raw length u32. */
export const PACKED_HEADER_BYTES = 5;

/** True for a codec id this build reads. */
export function knownCodec(codec: number): boolean {
  return codec === BlockCodec.zstd;
}

/**
 * The block a blob record holds: its data when raw, decompressed when packed
 * (into the front of `into` when given: at least the raw length, the
 * caller's reused buffer). A packed payload that does not decompress to
 * exactly its recorded length is CorruptionError (JOURNAL_CORRUPT), never
 * another exception.
 */
export function blockContent(
  rec: BlobRecord,
  where?: { segment: string; offset: number },
  into?: Buffer,
): Buffer {
  const p = rec.packed;
  if (!p) return rec.data;
  const at = where ? ` in segment ${where.segment} at offset ${where.offset}` : "";
  if (!knownCodec(p.codec))
    throw new CorruptionError(`block${at} has unknown codec ${p.codec}`, { ...where });
  let out: Buffer;
  try {
    // zstdDecode() returns a short (or empty) buffer when libzstd reports an
    // error (corrupt frame, or a frame larger than rawLen): the length check
    // below turns that into CorruptionError.
    out = zstdDecode(rec.data, p.rawLen, into);
  } catch (err) {
    throw new CorruptionError(
      `compressed block ${rec.hash.toString("hex")}${at} does not decompress`,
      { ...where, hint: "run `pvjournal verify` to see all damage" },
      err,
    );
  }
  if (out.length !== p.rawLen) {
    throw new CorruptionError(
      `compressed block ${rec.hash.toString("hex")}${at} decompressed to ${out.length} bytes, expected ${p.rawLen}`,
      { ...where },
    );
  }
  return out;
}

/** Codec names a stream reader may announce (GET /v1/stream?codecs=zstd). */
export const CODEC_NAMES: readonly string[] = ["zstd"];

/**
 * `rec` with its block decompressed (for a reader that announced no codecs:
 * a replica older than compression would store compressed bytes as the block).
 */
export function unpacked<R extends RecordBody>(rec: R): R {
  if (rec.type !== "blob" || !rec.packed) return rec;
  const { packed: _packed, ...rest } = rec;
  return { ...rest, data: blockContent(rec) } as R;
}
