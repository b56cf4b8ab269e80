/**
 * zstd decoding for block-codec.ts: libzstd's decoder compiled to wasm, from
 * `zstddec` (in the registry tarball; the only module that imports it).
 *
 * zstddec's own `decode()` mallocs and frees an input and an output buffer in
 * the wasm heap on every call and copies the result out with `slice()` (a new
 * ArrayBuffer per block). A restore decodes one block after another, so this
 * module calls the same wasm exports with two buffers it keeps, grown when a
 * block needs more, and copies each result into a buffer the caller reuses
 * (a restore's read scratch) when it gives one. Same blocks, same machine
 * (32 MiB of text blocks, into a reused buffer): 4 KiB blocks 12.6-37.6 ->
 * 10.2-11.0 us, 64 KiB blocks 241-597 -> 76-132 us per block. zstddec keeps its instance private: it is
 * taken from the one `WebAssembly.instantiate` call its `init()` makes; if a
 * later zstddec does that differently, `decode()` falls back to zstddec's own
 * (slower, same bytes) and `usesWasmExports()` says so (a test checks it).
 */
import { ZSTDDecoder } from "zstddec";

/** The parts of the WebAssembly global used here (the project's libs carry no DOM types). */
interface WasmGlobal {
  instantiate(...args: unknown[]): Promise<unknown>;
  readonly Instance: abstract new (
    ...args: never[]
  ) => { readonly exports: Record<string, unknown> };
  readonly Memory: abstract new (...args: never[]) => { readonly buffer: ArrayBuffer };
}
const WA = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;

/** The wasm exports used here (zstddec's module: emscripten's malloc and libzstd's one-shot decoder). */
interface ZstdExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  malloc(bytes: number): number;
  free(ptr: number): void;
  ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  ZSTD_isError(code: number): number;
}

const fallback = new ZSTDDecoder();
let wasm: ZstdExports | null = null;

/** The exports of an instantiation result, when they have the shape used here. */
function zstdExports(result: unknown): ZstdExports | null {
  const instance =
    result instanceof WA.Instance ? result : (result as { instance?: unknown } | null)?.instance;
  if (!(instance instanceof WA.Instance)) return null;
  const e = instance.exports;
  const fns = ["malloc", "free", "ZSTD_decompress", "ZSTD_isError"] as const;
  if (!(e.memory instanceof WA.Memory) || fns.some((f) => typeof e[f] !== "function")) return null;
  return e as unknown as ZstdExports;
}

/**
 * Loads the wasm module once (block-codec.ts awaits it at module load).
 * zstddec's init() loads its wasm through `fetch` of a data: URL when a
 * global fetch exists, which loads undici: ~40 ms of every CLI start,
 * against ~2 ms for its Buffer path. init() decides, and calls
 * WebAssembly.instantiate, synchronously: fetch is hidden and instantiate
 * observed for that one call only.
 */
export function initZstdDecoder(): Promise<void> {
  const fetchProp = Object.getOwnPropertyDescriptor(globalThis, "fetch");
  const instantiate = WA.instantiate;
  WA.instantiate = (...args: unknown[]): Promise<unknown> =>
    instantiate.apply(WA, args).then((r) => {
      wasm = zstdExports(r);
      return r;
    });
  if (fetchProp?.configurable) Reflect.deleteProperty(globalThis, "fetch");
  try {
    return fallback.init();
  } finally {
    WA.instantiate = instantiate;
    if (fetchProp?.configurable) Object.defineProperty(globalThis, "fetch", fetchProp);
  }
}

/** True when decode() calls the wasm exports directly (false: zstddec's decode()). */
export function usesWasmExports(): boolean {
  return wasm !== null;
}

/** Input and output buffers in the wasm heap, kept between calls (pointers and capacities). */
let src = 0;
let srcCap = 0;
let dst = 0;
let dstCap = 0;
let heap: Uint8Array | null = null;

/** A buffer of at least `need` bytes in the wasm heap: `ptr` kept when large enough. */
function ensure(e: ZstdExports, ptr: number, cap: number, need: number): [number, number] {
  if (cap >= need) return [ptr, cap];
  if (ptr !== 0) e.free(ptr);
  // Rounded up to 64 KiB: block sizes repeat, so this grows once or twice.
  const size = Math.ceil(need / 65536) * 65536;
  const p = e.malloc(size);
  if (p === 0) throw new Error(`zstd: the wasm heap cannot hold ${size} bytes`);
  return [p, size];
}

/**
 * Decompresses one zstd frame of at most `rawLen` bytes, into the front of
 * `into` when given (at least `rawLen` bytes: a caller's reused buffer), else
 * into a new Buffer. Returns what it decoded, which is shorter than `rawLen`
 * (possibly empty) when the frame is corrupt or holds more than `rawLen`
 * bytes: the caller checks the length.
 */
export function zstdDecode(data: Uint8Array, rawLen: number, into?: Buffer): Buffer {
  const e = wasm;
  if (!e) {
    const raw = fallback.decode(data, rawLen);
    const out = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    return into ? into.subarray(0, out.copy(into)) : out;
  }
  [src, srcCap] = ensure(e, src, srcCap, Math.max(1, data.length));
  [dst, dstCap] = ensure(e, dst, dstCap, Math.max(1, rawLen));
  // malloc may have grown the memory, which replaces its ArrayBuffer.
  if (heap?.buffer !== e.memory.buffer) heap = new Uint8Array(e.memory.buffer);
  heap.set(data, src);
  const n = e.ZSTD_decompress(dst, rawLen, src, data.length);
  if (e.ZSTD_isError(n) !== 0 || n < 0 || n > rawLen) return Buffer.alloc(0);
  const out = into ? into.subarray(0, n) : Buffer.allocUnsafe(n);
  out.set(heap.subarray(dst, dst + n));
  return out;
}
