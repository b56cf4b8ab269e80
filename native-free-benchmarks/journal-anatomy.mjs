#!/usr/bin/env node
// Where a journal's bytes go: every segment's frames by record type (frame
// and record headers, blob payloads raw and packed, msgpack bodies), the
// SQLite index by table and index (dbstat), and the index's WAL and shm.
// A diagnostic for storage work (issue 16: "first full copy ≤ restic's"),
// not a benchmark: it reads a journal at rest and changes nothing.
// Usage: npm run build && node native-free-benchmarks/journal-anatomy.mjs JOURNAL_DIR [--json]
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { PACKED_HEADER_BYTES } from "../dist/journal/block-codec.js";
import { FRAME_HEADER_BYTES, HEADER_BYTES } from "../dist/journal/segment-format.js";
import { scanSegment } from "../dist/journal/segment-io.js";
import { HASH_BYTES } from "../dist/util/hash.js";

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith("--"));
if (!dir) {
  process.stderr.write("usage: journal-anatomy.mjs JOURNAL_DIR [--json]\n");
  process.exit(2);
}
const MIB = 2 ** 20;
/** Bytes every record payload starts with: tag u8, seq f64, ts f64 (journal/codec.ts). */
const RECORD_PREFIX = 1 + 8 + 8;

const files = {};
for (const name of readdirSync(dir)) {
  const st = statSync(join(dir, name));
  if (st.isFile()) files[name] = st.size;
}
const types = {};
const bump = (type, field, n) => {
  types[type] ??= { records: 0, frameHeaders: 0, recordHeaders: 0, body: 0, rawBlockBytes: 0 };
  types[type][field] += n;
};
let segmentHeaders = 0;
const damaged = [];
for (const name of Object.keys(files)
  .filter((n) => n.endsWith(".pvj"))
  .sort()) {
  const scan = await scanSegment(join(dir, name));
  segmentHeaders += HEADER_BYTES;
  if (scan.damage) damaged.push(`${name} at ${scan.damage.offset}: ${scan.damage.reason}`);
  for (const { record: r } of scan.records) {
    const t = r.type === "blob" ? (r.packed ? "blob (packed)" : "blob (raw)") : r.type;
    bump(t, "records", 1);
    bump(t, "frameHeaders", FRAME_HEADER_BYTES);
    if (r.type === "blob") {
      bump(t, "recordHeaders", RECORD_PREFIX + HASH_BYTES + (r.packed ? PACKED_HEADER_BYTES : 0));
      bump(t, "body", r.data.length);
      bump(t, "rawBlockBytes", r.packed ? r.packed.rawLen : r.data.length);
    } else {
      // tag, seq, ts; the rest is the msgpack body.
      bump(t, "recordHeaders", RECORD_PREFIX);
    }
  }
}
// msgpack bodies: the frame's payload length minus the 17-byte prefix, which
// scanSegment does not return; recompute it from the segment sizes instead.
const segBytes = Object.entries(files)
  .filter(([n]) => n.endsWith(".pvj"))
  .reduce((s, [, v]) => s + v, 0);
const known = Object.values(types).reduce(
  (s, t) => s + t.frameHeaders + t.recordHeaders + t.body,
  0,
);
const otherBodies = segBytes - segmentHeaders - known;

let tables = [];
const db = join(dir, "index.db");
if (files["index.db"] !== undefined) {
  try {
    const out = execFileSync(
      "sqlite3",
      ["-readonly", db, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC;"],
      { encoding: "utf8" },
    );
    tables = out
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [name, bytes] = l.split("|");
        return { name, bytes: Number(bytes) };
      });
  } catch (err) {
    tables = [{ name: `(sqlite3 failed: ${err.message.split("\n")[0]})`, bytes: 0 }];
  }
}
const result = {
  dir,
  files,
  segmentBytes: segBytes,
  segmentHeaders,
  types,
  otherBodies,
  tables,
  damaged,
};
if (args.includes("--json")) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  const m = (n) => (n / MIB).toFixed(3);
  const total = Object.values(files).reduce((s, v) => s + v, 0);
  console.log(`journal ${dir}: ${m(total)} MiB in ${Object.keys(files).length} files`);
  for (const [n, v] of Object.entries(files))
    console.log(`  ${n.padEnd(32)} ${m(v).padStart(10)} MiB`);
  console.log(`segments: ${m(segBytes)} MiB (headers ${segmentHeaders} B)`);
  console.log("  type             records   frame hdr MiB  record hdr MiB  data MiB   raw MiB");
  for (const [t, v] of Object.entries(types))
    console.log(
      `  ${t.padEnd(15)} ${String(v.records).padStart(8)} ${m(v.frameHeaders).padStart(14)} ${m(v.recordHeaders).padStart(15)} ${(v.body ? m(v.body) : "").padStart(9)} ${(v.rawBlockBytes ? m(v.rawBlockBytes) : "").padStart(9)}`,
    );
  console.log(`  msgpack bodies of the other records: ${m(otherBodies)} MiB`);
  console.log("index (dbstat, pages of index.db; the WAL is listed with the files):");
  for (const t of tables) console.log(`  ${t.name.padEnd(32)} ${m(t.bytes).padStart(10)} MiB`);
  if (damaged.length > 0) console.log(`damage: ${damaged.join("; ")}`);
}
