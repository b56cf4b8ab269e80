/**
 * A failing filesystem for tests: a tiny read-only FUSE passthrough of
 * BACKING at MOUNT, built on our own codec (src/intercept/protocol.ts), whose
 * READ answers EIO for every file whose name is listed in CONTROL (one name a
 * line, re-read on each READ, so a test turns the fault on and off). Files
 * are opened with direct I/O, so no read is served from the page cache and a
 * change made in BACKING shows at once. Needs root (mount) and /dev/fuse.
 * Usage: node --import tsx eio-fuse.ts BACKING MOUNT CONTROL
 * Prints "serving" once the mount answers; unmount (umount -l) to stop it.
 */
import {
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  statfsSync,
  writevSync,
} from "node:fs";
import { constants } from "node:os";
import { basename, join } from "node:path";
import { attrOf } from "../../src/intercept/context.js";
import { mountFuse, openFuseDevice } from "../../src/intercept/mount.js";
import {
  decodeHeader,
  decodeInit,
  decodeIo,
  encodeAttrOut,
  encodeDirents,
  encodeEntry,
  encodeInitOut,
  encodeOpenOut,
  encodeOutHeader,
  encodeStatfs,
  IN_HEADER_BYTES,
  Op,
  readCString,
} from "../../src/intercept/protocol.js";

const [backing, mount, control] = process.argv.slice(2) as [string, string, string];
/** FOPEN_DIRECT_IO: every read comes to us (none from the page cache). */
const FOPEN_DIRECT_IO = 1 << 0;
const MAX = 128 * 1024;

const paths = new Map<number, string>([[1, ""]]);
const ids = new Map<string, number>([["", 1]]);
let nextId = 2;
const idOf = (rel: string) => {
  let id = ids.get(rel);
  if (id === undefined) {
    id = nextId++;
    ids.set(rel, id);
    paths.set(id, rel);
  }
  return id;
};
const abs = (id: number) => {
  const rel = paths.get(id);
  if (rel === undefined) throw Object.assign(new Error("stale node"), { code: "ENOENT" });
  return rel === "" ? backing : join(backing, rel);
};
const failing = (p: string) => {
  let names: string[] = [];
  try {
    names = readFileSync(control, "utf8").split("\n").filter(Boolean);
  } catch {}
  return names.includes(basename(p));
};
const openFiles = new Map<number, string>();

function handle(req: Buffer): Buffer | null {
  const h = decodeHeader(req);
  const body = req.subarray(IN_HEADER_BYTES, h.len);
  switch (h.opcode) {
    case Op.INIT: {
      const offer = decodeInit(body);
      return encodeInitOut({
        maxReadahead: offer.maxReadahead,
        flags: 0,
        maxBackground: 16,
        maxWrite: MAX,
        maxPages: MAX / 4096,
      });
    }
    case Op.FORGET:
    case Op.BATCH_FORGET:
    case Op.INTERRUPT:
      return null;
    case Op.LOOKUP: {
      const name = readCString(body, 0).value.toString();
      const parent = paths.get(h.nodeid) ?? "";
      const rel = parent === "" ? name : `${parent}/${name}`;
      const st = lstatSync(join(backing, rel));
      return encodeEntry(idOf(rel), 0, attrOf(st), 0, 0);
    }
    case Op.GETATTR:
      return encodeAttrOut(attrOf(lstatSync(abs(h.nodeid))), 0);
    case Op.READLINK:
      return Buffer.from(readlinkSync(abs(h.nodeid)));
    case Op.OPEN: {
      const fd = openSync(abs(h.nodeid), "r");
      openFiles.set(fd, abs(h.nodeid));
      return encodeOpenOut(fd, FOPEN_DIRECT_IO);
    }
    case Op.READ: {
      const io = decodeIo(body);
      const p = openFiles.get(io.fh);
      if (p === undefined) throw Object.assign(new Error("bad fh"), { code: "EBADF" });
      if (failing(p)) throw Object.assign(new Error("injected"), { code: "EIO" });
      const buf = Buffer.alloc(io.size);
      return buf.subarray(0, readSync(io.fh, buf, 0, io.size, io.offset));
    }
    case Op.RELEASE: {
      const fh = Number(body.readBigUInt64LE(0));
      openFiles.delete(fh);
      closeSync(fh);
      return Buffer.alloc(0);
    }
    case Op.OPENDIR:
      return encodeOpenOut(0, 0);
    case Op.READDIR: {
      const io = decodeIo(body);
      const parent = paths.get(h.nodeid) ?? "";
      const entries = readdirSync(abs(h.nodeid), { withFileTypes: true }).map((e) => ({
        ino: idOf(parent === "" ? e.name : `${parent}/${e.name}`),
        name: Buffer.from(e.name),
        type: e.isDirectory() ? 4 : e.isSymbolicLink() ? 10 : 8,
      }));
      return encodeDirents(entries, io.offset, io.size);
    }
    case Op.RELEASEDIR:
    case Op.FLUSH:
    case Op.DESTROY:
      return Buffer.alloc(0);
    case Op.STATFS: {
      const s = statfsSync(backing);
      return encodeStatfs({
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
        bsize: s.bsize,
      });
    }
    case Op.SETATTR:
    case Op.WRITE:
    case Op.CREATE:
    case Op.MKDIR:
    case Op.MKNOD:
    case Op.UNLINK:
    case Op.RMDIR:
    case Op.RENAME:
    case Op.RENAME2:
    case Op.LINK:
    case Op.SYMLINK:
      throw Object.assign(new Error("read-only"), { code: "EROFS" });
    default:
      throw Object.assign(new Error("not implemented"), { code: "ENOSYS" });
  }
}

const fd = openFuseDevice();
await mountFuse(fd, mount);
process.stdout.write("serving\n");
const buf = Buffer.alloc(IN_HEADER_BYTES + 4096 + MAX);
for (;;) {
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, null);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EINTR" || code === "EAGAIN") continue;
    break; // ENODEV: unmounted
  }
  const req = Buffer.from(buf.subarray(0, n));
  const unique = req.readBigUInt64LE(8);
  let reply: Buffer | null;
  let error = 0;
  try {
    reply = handle(req);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    error = -((constants.errno as Record<string, number>)[code] ?? constants.errno.EIO);
    reply = Buffer.alloc(0);
  }
  if (reply === null) continue;
  try {
    writevSync(
      fd,
      error
        ? [encodeOutHeader(unique, error, 0)]
        : [encodeOutHeader(unique, 0, reply.length), reply],
    );
  } catch {
    // The request was interrupted: nobody waits for the answer.
  }
}
process.exit(0);
