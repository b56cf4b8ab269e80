import { createRequire } from "node:module";
import type { IHasher } from "hash-wasm";

/**
 * Only hash-wasm's xxh3-128 module (20 KB, CommonJS): the package's index
 * carries every algorithm's WebAssembly (284 KB) and cost 35-55 ms of every
 * CLI and daemon start to load, against 7-13 ms for this one (same minute).
 * Loaded by the first BlockHasher.create(): commands that hash nothing
 * (`checkpoints`) do not load it.
 */
function loadXXHash128(): () => Promise<IHasher> {
  return (
    createRequire(import.meta.url)("hash-wasm/dist/xxhash128.umd.min.js") as {
      createXXHash128: () => Promise<IHasher>;
    }
  ).createXXHash128;
}

/** Bytes in a block hash: xxh3-128, strong enough to serve as a dedup identity. */
export const HASH_BYTES = 16;

/**
 * Hashes blocks with one reused xxh3-128 hasher (WebAssembly). Creating a
 * hasher per block is 10-100x slower (design.md), so callers keep one of these.
 * ~6 GB/s on 64 KiB blocks on our machines.
 */
export class BlockHasher {
  private constructor(private readonly hasher: IHasher) {}

  /** Creates a hasher; async only because the WebAssembly module loads once. */
  static async create(): Promise<BlockHasher> {
    return new BlockHasher(await loadXXHash128()());
  }

  /**
   * Whether `data` hashes to `expected`: the digest is compared where the
   * hasher returns it, without the Buffer copy `hash` makes (a restore checks
   * every 4 KiB block: 32k copies and Buffers per 128 MiB).
   */
  matches(data: Uint8Array, expected: Uint8Array): boolean {
    this.hasher.init();
    this.hasher.update(data);
    const d = this.hasher.digest("binary");
    if (d.length !== expected.length) return false;
    for (let i = 0; i < d.length; i++) if (d[i] !== expected[i]) return false;
    return true;
  }

  /** 16-byte xxh3-128 of `data`, as a fresh Buffer the caller may keep. */
  hash(data: Uint8Array): Buffer {
    this.hasher.init();
    this.hasher.update(data);
    return Buffer.from(this.hasher.digest("binary"));
  }
}

/** Lower-case hex of a hash, for logs, keys and messages. */
export function hashHex(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString("hex");
}
