/**
 * The base a sidecar keeps in the JetStream Object Store carries compressed
 * blobs as stored, codec included. Regression: the blobs it adds for later
 * de-duplicating writes (blocks overwritten before the base's seq) lost
 * their codec, so a replica that bootstrapped from the base stored zstd
 * bytes as a raw block and every read of it failed its hash ("block at
 * offset 8192 ... does not match its recorded hash" in e2e-jetstream, on
 * the mirror and on restores of dr-b's journal).
 */
import { rm } from "node:fs/promises";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan } from "../src/journal/build-plan.js";
import { Journal } from "../src/journal/journal.js";
import type { RecordBody } from "../src/journal/records.js";
import { installStreamedBase } from "../src/journal/retention.js";
import { verifyJournal } from "../src/journal/verify.js";
import { silentLogger } from "../src/log/logger.js";
import { readBase, writeBase } from "../src/stream/jetstream-base.js";
import type { StreamMessage } from "../src/stream/wire.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { type NatsCluster, startNatsCluster } from "./helpers/nats.js";
import { makeTmpDir } from "./helpers/tmp.js";
import { follow } from "./support/journal-writes.js";

const BS = 4096;
let natsDir: string;
let nats: NatsCluster;
beforeAll(async () => {
  natsDir = await makeTmpDir("pvj-js-base-nats-");
  nats = await startNatsCluster(natsDir, { nodes: 1 });
}, 30_000);
afterAll(async () => {
  await nats?.stop();
  await rm(natsDir, { recursive: true, force: true });
});

/** A compressible block: one repeated line (zstd takes it to a few dozen bytes). */
function textBlock(line: string): Buffer {
  return Buffer.from(line.repeat(Math.ceil(BS / line.length)).slice(0, BS));
}

/** The base messages' bodies, up to base-end. */
async function* bodiesOf(it: AsyncGenerator<StreamMessage>): AsyncGenerator<RecordBody> {
  for await (const m of it) {
    if (m.t === "base-end") return;
    if (m.t === "base-records") yield* m.bodies;
  }
}

describe("the JetStream Object Store base", () => {
  it("keeps the codec of every blob, so a bootstrapped replica reads blocks later writes reuse", async () => {
    const hasher = await BlockHasher.create();
    const dir = await tmpDir("pvj-js-base-");
    const opts = { blockSize: BS, logger: silentLogger() };
    const src = await Journal.open({ dir: `${dir}/src`, ...opts });
    const rep = await Journal.open({ dir: `${dir}/rep`, ...opts });
    const nc = await connect({ servers: [...nats.urls] });
    try {
      const a = textBlock("the first version of block one\n");
      const b = textBlock("the second version, which the base holds\n");
      const [ha, hb] = [hasher.hash(a), hasher.hash(b)];
      await src.append([
        { type: "link", fileId: 1, path: "data", kind: "dir" },
        { type: "link", fileId: 2, path: "data/f", kind: "file" },
        { type: "size", fileId: 2, size: BS },
        { type: "blob", hash: ha, data: a },
        { type: "write", fileId: 2, block: 0, len: BS, hash: ha },
      ]);
      // Overwritten before the base's seq: `a` is in the base only for later writes.
      await src.append([
        { type: "blob", hash: hb, data: b },
        { type: "write", fileId: 2, block: 0, len: BS, hash: hb },
      ]);
      const stored = await src.readStoredBlob(ha);
      expect(stored.packed, "the block is stored compressed").toBeDefined();
      const info = await writeBase(nc, {
        stream: "pvj-base-codec",
        replicas: 1,
        journal: src,
        hasher,
        seq: src.lastSeq,
      });
      // After the base: a new file whose block de-duplicates against `a` (no blob record).
      await src.append([
        { type: "link", fileId: 3, path: "data/g", kind: "file" },
        { type: "size", fileId: 3, size: BS },
        { type: "write", fileId: 3, block: 0, len: BS, hash: ha },
      ]);

      await installStreamedBase(rep, info.seq, info.ts, bodiesOf(readBase(nc, "pvj-base-codec")));
      await follow(src, rep);
      const plan = buildPlan(rep, { seq: rep.lastSeq, ts: rep.lastTs, checkpoint: null });
      const g = plan.entries.find((e) => e.path === "data/g")!;
      expect(g.blocks.map((x) => x.hash.toString("hex"))).toEqual([ha.toString("hex")]);
      expect(await rep.readBlob(ha)).toEqual(a);
      expect(await rep.readBlob(hb)).toEqual(b);
      expect((await verifyJournal(rep, hasher)).problems).toEqual([]);
    } finally {
      await nc.close();
      await rep.close();
      await src.close();
    }
  });
});
