/**
 * Child process of the crash test: appends random operations and checkpoints
 * to a journal forever, printing each checkpoint (with a digest of the model
 * tree) only after checkpoint() resolved, i.e. after it was acknowledged.
 * Usage: node --import tsx crash-child.ts DIR SEED RUN
 */

import { Journal } from "../../src/journal/journal.js";
import { BlockHasher } from "../../src/util/hash.js";
import { VolumeModel } from "./model.js";
import { prng } from "./prng.js";
import { treeDigest } from "./tree.js";

const [dir, seedText, runText] = process.argv.slice(2);
const journal = await Journal.open({ dir: dir!, blockSize: 4096, segmentSize: 128 * 1024 });
const hasher = await BlockHasher.create();
const rand = prng(Number(seedText));
const model = new VolumeModel(journal, hasher, rand, `r${runText}`);
await model.init();
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
for (let i = 0; ; i++) {
  await model.randomOp();
  if (i % 15 === 14) {
    const cp = await journal.checkpoint({ label: `run${runText}`, consistency: "crash" });
    process.stdout.write(
      `${JSON.stringify({ cp: cp.id, digest: treeDigest(model.snapshot()) })}\n`,
    );
  }
}
