import { createXXHash128, type IHasher } from "hash-wasm";

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
    return new BlockHasher(await createXXHash128());
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
