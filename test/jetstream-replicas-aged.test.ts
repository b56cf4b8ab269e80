/**
 * A stream whose every message aged out (journal.retention passed with no
 * new writes) still knows where its replicas stand. Regression: the poller
 * took an emptied stream's floor as journal seq 0, so a replica that had
 * acknowledged everything showed ackedSeq 0, held the sidecar's retention
 * from seq 1 for good (`retention.heldForReplicasFromSeq: 1` in
 * /v1/status), and no bootstrap base was written for a replica that comes
 * back later.
 */
import { rm } from "node:fs/promises";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../src/journal/journal.js";
import { silentLogger } from "../src/log/logger.js";
import { JetStreamPublisher } from "../src/stream/jetstream-publisher.js";
import { JetStreamReplicas } from "../src/stream/jetstream-replicas.js";
import { JetStreamSource } from "../src/stream/jetstream-source.js";
import { ReplicaTracker } from "../src/stream/replica-tracker.js";
import { BlockHasher } from "../src/util/hash.js";
import { tmpDir } from "./helpers/index.js";
import { type NatsCluster, startNatsCluster } from "./helpers/nats.js";
import { makeTmpDir } from "./helpers/tmp.js";
import { waitFor } from "./helpers/wait.js";

const BS = 4096;
const STREAM = "pvj-aged";
/** The stream's age limit (ms): short, so the test sees every message expire. */
const MAX_AGE_MS = 1_500;

let natsDir: string;
let nats: NatsCluster;
beforeAll(async () => {
  natsDir = await makeTmpDir("pvj-js-aged-nats-");
  nats = await startNatsCluster(natsDir, { nodes: 1 });
}, 30_000);
afterAll(async () => {
  await nats?.stop();
  await rm(natsDir, { recursive: true, force: true });
});

describe("JetStream replicas on a stream whose messages all aged out", () => {
  it("a caught-up replica stands at the published seq, holds nothing, and a base is kept", async () => {
    const logger = silentLogger();
    const hasher = await BlockHasher.create();
    const dir = await tmpDir("pvj-js-aged-");
    const journal = await Journal.open({ dir, blockSize: BS, logger });
    const nc = await connect({ servers: [...nats.urls] });
    const publisher = new JetStreamPublisher(nc, {
      stream: STREAM,
      replicas: 1,
      maxAgeMs: MAX_AGE_MS,
      journal,
      logger,
    });
    const tracker = new ReplicaTracker(journal);
    const replicas = new JetStreamReplicas(nc, {
      stream: STREAM,
      replicas: 1,
      journal,
      hasher,
      tracker,
      logger,
      publishedSeq: () => publisher.status().publishedSeq,
      intervalMs: 0,
    });
    const abort = new AbortController();
    try {
      const data = Buffer.alloc(BS, 7);
      const hash = hasher.hash(data);
      await journal.append([
        { type: "link", fileId: 1, path: "data", kind: "dir" },
        { type: "link", fileId: 2, path: "data/f", kind: "file" },
        { type: "size", fileId: 2, size: BS },
        { type: "blob", hash, data },
        { type: "write", fileId: 2, block: 0, len: BS, hash },
      ]);
      await journal.checkpoint({ label: "one", consistency: "crash" });
      await publisher.open();
      publisher.start();
      await waitFor(() => publisher.status().publishedSeq === journal.lastSeq, { timeout: 10_000 });

      // A replica reads and acknowledges everything, as a follower does.
      const source = new JetStreamSource(async () => nc, {
        stream: STREAM,
        consumer: "dr-b",
        servers: nats.urls,
        logger,
      });
      let seen = 0;
      for await (const m of source.open(1, abort.signal)) {
        if (m.t === "records") seen = m.records[m.records.length - 1]?.seq ?? seen;
        if (seen === journal.lastSeq) break;
      }
      await source.ack(seen);
      await replicas.poll();
      expect(replicas.status().consumers[0]?.ackedSeq).toBe(journal.lastSeq);

      // Every message ages out; the replica still stands where it was.
      await waitFor(
        async () => {
          await replicas.poll();
          return replicas.status().streamState?.messages === 0;
        },
        { timeout: 15_000, interval: 250 },
      );
      const [c] = replicas.status().consumers;
      expect(c, "the durable consumer is listed").toBeDefined();
      expect(c?.fellOff, "a caught-up replica did not fall off").toBe(false);
      expect(c?.ackedSeq).toBe(journal.lastSeq);
      expect(c?.behindSeq).toBe(0);
      expect(replicas.keepAfterSeq()).toBe(journal.lastSeq);
      expect(tracker.keepAfterSeq(), "retention is not held from seq 1").toBe(journal.lastSeq);
      // A base for a replica that comes back after the stream emptied.
      await replicas.stop();
      expect(replicas.status().base?.seq).toBe(journal.lastSeq);
    } finally {
      abort.abort();
      await replicas.stop();
      await publisher.stop();
      await nc.close();
      await journal.close();
    }
  }, 60_000);
});
