/**
 * Failures are visible on a replica: refused and hanging acks, a corrupt
 * stream and a corrupt promotion record are logged at the right level,
 * counted and shown in status (ack.lastError, stream.lastError,
 * promotionError). A real HTTP peer and a real journal.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { createRootLogger } from "../src/log/logger.js";
import { Mirror } from "../src/replica/mirror.js";
import { Replica } from "../src/replica/replica.js";
import { HttpStreamSource } from "../src/stream/http-source.js";
import { encodeMessage } from "../src/stream/wire.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir, waitFor } from "./helpers/index.js";
import { VolumeModel } from "./support/model.js";
import { prng } from "./support/prng.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { logger: createRootLogger({ level: "info", destination }), lines };
}

async function sourceJournal() {
  const src = await Journal.open({ dir: await tmpDir(), blockSize: 4096 });
  cleanups.push(() => src.close());
  const hasher = await BlockHasher.create();
  const model = new VolumeModel(src, hasher, prng(13));
  await model.init();
  for (let i = 0; i < 20; i++) await model.randomOp();
  await src.checkpoint({ label: null, consistency: "crash" });
  const records: unknown[] = [];
  for await (const r of src.records(1)) records.push(r);
  return { src, records };
}

type AckMode = "refuse" | "accept" | "hang";

/** A peer that serves the whole journal in good frames (or a corrupt one) and answers acks per `mode`. */
async function peer(src: Journal, records: unknown[], state: { ack: AckMode; corrupt: boolean }) {
  const server: Server = createServer((req, res) => {
    if (req.method === "POST") {
      if (state.ack === "hang") return; // never answers
      if (state.ack === "refuse") {
        res
          .writeHead(401, { "content-type": "application/json" })
          .end('{"error":{"code":"UNAUTHORIZED","message":"invalid bearer token"}}');
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"ackedSeq":0}');
      return;
    }
    const from = Number(new URL(req.url!, "http://x").searchParams.get("from"));
    res.writeHead(200);
    res.write(
      encodeMessage({
        t: "hello",
        journalId: src.id,
        lastSeq: src.lastSeq,
        baseSeq: 0,
        blockSize: src.blockSize,
      }),
    );
    const mine = (records as { seq: number }[]).filter((r) => r.seq >= from);
    const frame = encodeMessage({ t: "records", records: mine as never });
    if (state.corrupt && mine.length > 0) frame[frame.length - 1] = frame[frame.length - 1]! ^ 0xff;
    res.write(frame);
    // Keep the connection open like a live sidecar.
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function replicaOf(address: string, logger: ReturnType<typeof capturingLogger>["logger"]) {
  const dir = await tmpDir();
  const journal = await Journal.open({ dir: join(dir, "journal") });
  const hasher = await BlockHasher.create();
  const mirror = new Mirror(journal, join(dir, "mirror"), hasher, logger);
  await mirror.init();
  const counts = { ack: [] as string[], stream: [] as string[] };
  const replica = new Replica(
    journal,
    new HttpStreamSource({
      source: address,
      replicaId: "r1",
      token: "t",
      ca: null,
      ackTimeoutMs: 300,
    }),
    mirror,
    logger,
    { onAckFailure: (c) => counts.ack.push(c), onStreamError: (k) => counts.stream.push(k) },
  );
  cleanups.push(async () => {
    await replica.stop();
    await journal.close();
  });
  return { journal, replica, counts };
}

describe("replica failures are visible", () => {
  it("a refused ack is an error with a count and ack.lastError; a hanging ack times out; success clears it", async () => {
    const { src, records } = await sourceJournal();
    const state = { ack: "refuse" as AckMode, corrupt: false };
    const address = await peer(src, records, state);
    const { logger, lines } = capturingLogger();
    const { journal, replica, counts } = await replicaOf(address, logger);
    replica.start();
    await waitFor(() => journal.lastSeq === src.lastSeq, { timeout: 10_000, what: "records" });
    await waitFor(() => replica.status().ack.failures > 0, {
      timeout: 10_000,
      what: "ack failure",
    });
    const st = replica.status().ack;
    expect(st.lastError).toMatchObject({ code: "UNAUTHORIZED" });
    expect(counts.ack).toContain("UNAUTHORIZED");
    expect(lines.some((l) => l.level === 50 && /refused the ack/.test(l.msg))).toBe(true);

    state.ack = "hang";
    await src.checkpoint({ label: "more", consistency: "crash" });
    // New records for the replica (served on its next connection) make it ack again.
    const more: unknown[] = [];
    for await (const r of src.records(journal.lastSeq + 1)) more.push(r);
    records.push(...more);
    await replica.stop();
    replica.start();
    await waitFor(() => /timed out/.test(replica.status().ack.lastError?.message ?? ""), {
      timeout: 10_000,
      what: "ack timeout",
    });
    expect(counts.ack).toContain("IO_ERROR");
    expect(lines.some((l) => l.level === 40 && /ack failed/.test(l.msg))).toBe(true);

    state.ack = "accept";
    await src.checkpoint({ label: "again", consistency: "crash" });
    for await (const r of src.records(journal.lastSeq + 1)) records.push(r);
    await replica.stop();
    replica.start();
    await waitFor(() => replica.status().ack.ackedSeq === src.lastSeq, {
      timeout: 10_000,
      what: "ack accepted",
    });
    expect(replica.status().ack.lastError).toBeNull();
  });

  it("a corrupt stream is an error, counted apart, in stream.lastError; nothing of it is appended", async () => {
    const { src, records } = await sourceJournal();
    const address = await peer(src, records, { ack: "accept", corrupt: true });
    const { logger, lines } = capturingLogger();
    const { journal, replica, counts } = await replicaOf(address, logger);
    replica.start();
    await waitFor(() => replica.status().stream.corrupt >= 2, {
      timeout: 10_000,
      what: "corrupt x2",
    });
    const st = replica.status().stream;
    expect(st.lastError).toMatchObject({ corrupt: true });
    expect(st.errors).toBeGreaterThanOrEqual(st.corrupt);
    expect(counts.stream).toContain("corrupt");
    expect(journal.lastSeq).toBe(0);
    expect(lines.some((l) => l.level === 50 && /stream is corrupt/.test(l.msg))).toBe(true);
  });

  it("a corrupt promotion record is reported, not replaced, and the replica stays promoted", async () => {
    const { logger } = capturingLogger();
    const { journal, replica } = await replicaOf("http://127.0.0.1:9", logger);
    journal.index.setMeta("promoted", "{not json");
    expect(replica.promoted).toBe(true);
    expect(() => replica.promotion).toThrow(/not valid JSON/);
    const st = replica.status();
    expect(st.promoted).toBe(true);
    expect(st.promotion).toBeNull();
    expect(st.promotionError).toMatch(/promotion record/);
    expect(journal.index.getMeta("promoted")).toBe("{not json");
  });
});
