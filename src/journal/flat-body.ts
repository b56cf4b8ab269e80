/**
 * The msgpack body of a journal record, written without msgpackr for the
 * flat records capture writes by the thousand (link, attr, size, write:
 * four per small file). msgpackr took about 1.9 µs per record here, most of
 * it in the object copy that drops `seq` and `ts` and in its general
 * dispatch; this loop writes the same bytes directly.
 *
 * The bytes are exactly what codec.ts's Packr writes (useRecords: false), so
 * segments do not change and old readers read them: a map16 header (0xde and
 * a 2-byte count, which that Packr always uses), keys in insertion order,
 * integers of 32 bits or less in their smallest form (fixint below 0x80),
 * every other number as a float64, Buffers as bin8/16/32, true, false and
 * null. Anything else (a string with a non-ASCII character, undefined, a
 * nested object such as a checkpoint's hooks) gives null, and the caller
 * packs the record with msgpackr. test/flat-body.test.ts compares both
 * byte for byte on seeded records.
 */

/** Grown on demand; bodies are copied out, so one scratch serves every call. */
let scratch = Buffer.allocUnsafe(1024);

function room(pos: number, more: number): void {
  if (pos + more <= scratch.length) return;
  const next = Buffer.allocUnsafe(Math.max(scratch.length * 2, pos + more));
  scratch.copy(next, 0, 0, pos);
  scratch = next;
}

/** Writes an ASCII string (header and bytes) at `pos`; -1 if it holds any other character. */
function writeAscii(s: string, pos: number): number {
  const n = s.length;
  room(pos, n + 5);
  let at = pos;
  if (n < 0x20) scratch[at++] = 0xa0 | n;
  else if (n < 0x100) {
    scratch[at++] = 0xd9;
    scratch[at++] = n;
  } else if (n < 0x10000) {
    scratch[at++] = 0xda;
    scratch.writeUInt16BE(n, at);
    at += 2;
  } else {
    scratch[at++] = 0xdb;
    scratch.writeUInt32BE(n, at);
    at += 4;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    scratch[at++] = c;
  }
  return at;
}

/** Writes a number as msgpackr does (see the module comment) at `pos`. */
function writeNumber(v: number, pos: number): number {
  room(pos, 9);
  let at = pos;
  if (v >>> 0 === v) {
    if (v < 0x80) scratch[at++] = v;
    else if (v < 0x100) {
      scratch[at++] = 0xcc;
      scratch[at++] = v;
    } else if (v < 0x10000) {
      scratch[at++] = 0xcd;
      scratch.writeUInt16BE(v, at);
      at += 2;
    } else {
      scratch[at++] = 0xce;
      scratch.writeUInt32BE(v, at);
      at += 4;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) scratch[at++] = 0x100 + v;
    else if (v >= -0x80) {
      scratch[at++] = 0xd0;
      scratch[at++] = v + 0x100;
    } else if (v >= -0x8000) {
      scratch[at++] = 0xd1;
      scratch.writeInt16BE(v, at);
      at += 2;
    } else {
      scratch[at++] = 0xd2;
      scratch.writeInt32BE(v, at);
      at += 4;
    }
  } else {
    scratch[at++] = 0xcb;
    scratch.writeDoubleBE(v, at);
    at += 8;
  }
  return at;
}

function writeBytes(b: Buffer, pos: number): number {
  const n = b.length;
  room(pos, n + 5);
  let at = pos;
  if (n < 0x100) {
    scratch[at++] = 0xc4;
    scratch[at++] = n;
  } else if (n < 0x10000) {
    scratch[at++] = 0xc5;
    scratch.writeUInt16BE(n, at);
    at += 2;
  } else {
    scratch[at++] = 0xc6;
    scratch.writeUInt32BE(n, at);
    at += 4;
  }
  b.copy(scratch, at);
  return at + n;
}

/** One value at `pos`; -1 for a value this writer leaves to msgpackr. */
function writeValue(v: unknown, pos: number): number {
  switch (typeof v) {
    case "number":
      return writeNumber(v, pos);
    case "string":
      return writeAscii(v, pos);
    case "boolean":
      room(pos, 1);
      scratch[pos] = v ? 0xc3 : 0xc2;
      return pos + 1;
    default:
      if (v === null) {
        room(pos, 1);
        scratch[pos] = 0xc0;
        return pos + 1;
      }
      return Buffer.isBuffer(v) ? writeBytes(v, pos) : -1;
  }
}

/**
 * The msgpack body of `rec` without its `seq` and `ts` (they live in the
 * record prefix), as a new Buffer; null when msgpackr must write it.
 */
export function packFlatBody(rec: object): Buffer | null {
  // A record is an object literal: for-in then sees exactly its own keys.
  if (Object.getPrototypeOf(rec) !== Object.prototype) return null;
  const fields = rec as Record<string, unknown>;
  let pos = 3;
  let count = 0;
  for (const key in fields) {
    if (key === "seq" || key === "ts") continue;
    pos = writeAscii(key, pos);
    if (pos < 0) return null;
    pos = writeValue(fields[key], pos);
    if (pos < 0) return null;
    count++;
  }
  if (count > 0xffff) return null;
  scratch[0] = 0xde;
  scratch.writeUInt16BE(count, 1);
  return Buffer.from(scratch.subarray(0, pos));
}
