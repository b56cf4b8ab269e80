#!/usr/bin/env node
// Soak of intercept mode (a script, not a timed test): N seeded rounds of an
// app writing self-checking records through a real sidecar's FUSE mount while
// checkpoints are taken; each round ends with kill -9 or SIGTERM of the
// sidecar at a random moment, then a restart (stale mount detached, volume
// reconciled). After every round each checkpoint answered so far is restored
// offline and must hold whole records 0..n-1 per file; at the end the newest
// checkpoint must equal the live volume byte for byte.
// Usage: node native-free-benchmarks/soak-intercept.mjs [--rounds N] [--seed S]
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, freePort } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const rounds = opt("--rounds", 20);
const seed = opt("--seed", Math.floor(Math.random() * 2 ** 31));
const RECORD = 8192;
let state = seed >>> 0;
const rand = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function recordBytes(file, index) {
  const b = Buffer.alloc(RECORD);
  b.writeUInt32LE(file, 0);
  b.writeUInt32LE(index, 4);
  let x = (file * 2654435761 + index * 40503 + 1) >>> 0;
  for (let i = 8; i < RECORD; i += 4) {
    x = (x * 1664525 + 1013904223) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}
const WRITER = `
import { openSync, writeSync, fsyncSync, fstatSync } from "node:fs";
const [dir] = process.argv.slice(1);
const RECORD = ${RECORD};
${recordBytes.toString()}
const fds = [0, 1, 2].map((f) => openSync(dir + "/f" + f, "a+"));
const next = fds.map((fd) => Math.floor(fstatSync(fd).size / RECORD));
try {
  for (let n = 0; ; n++) {
    const f = n % 3;
    writeSync(fds[f], recordBytes(f, next[f]), 0, RECORD, next[f] * RECORD);
    next[f]++;
    if (n % 5 === 0) fsyncSync(fds[f]);
    if (n % 40 === 0) await new Promise((r) => setTimeout(r, 1));
  }
} catch { process.exit(0); }
`;

const root = mkdtempSync(join(tmpdir(), "pvj-soak-"));
chmodSync(root, 0o755);
const [vol, mnt, journal] = ["vol", "mnt", "journal"].map((d) => join(root, d));
mkdirSync(vol);
const port = await freePort();
const cfg = join(root, "pvjournal.yaml");
writeFileSync(
  cfg,
  `sources:\n  - name: data\n    path: ${vol}\n    mountPoint: ${mnt}\njournal:\n  dir: ${journal}\ncapture:\n  mode: intercept\napi:\n  listen: 127.0.0.1:${port}\ncheckpoints:\n  interval: 0s\nrestore:\n  allowedRoots: [${join(root, "restores")}]\nlog:\n  level: warn\n`,
);
const base = `http://127.0.0.1:${port}`;

async function startSidecar() {
  const child = spawn(process.execPath, [CLI, "sidecar", "-c", cfg], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`sidecar exited ${child.exitCode}: ${err}`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return child;
    await sleep(50);
  }
  throw new Error("sidecar never became ready");
}

function check(tree, what) {
  for (let f = 0; f < 3; f++) {
    let content;
    try {
      content = readFileSync(join(tree, "data", `f${f}`));
    } catch {
      continue;
    }
    if (content.length % RECORD !== 0)
      throw new Error(`${what}: f${f} size ${content.length} is not whole records`);
    for (let i = 0; i * RECORD < content.length; i++) {
      if (!content.subarray(i * RECORD, (i + 1) * RECORD).equals(recordBytes(f, i)))
        throw new Error(`${what}: f${f} record ${i} is wrong`);
    }
  }
}

function restore(id) {
  const target = join(root, "restores", `cp${id}-${Date.now()}`);
  const r = spawnSync(
    process.execPath,
    [CLI, "restore", "--checkpoint", String(id), "--target", target, "--journal", journal],
    { encoding: "utf8" },
  );
  if (r.status !== 0)
    throw new Error(`restore of checkpoint ${id} exited ${r.status}: ${r.stderr}`);
  return target;
}

console.log(`soak-intercept: ${rounds} rounds, seed ${seed} (--seed ${seed} replays the choices)`);
const answered = [];
const t0 = Date.now();
let kills = 0;
let stops = 0;
let sidecar = await startSidecar();
try {
  for (let round = 1; round <= rounds; round++) {
    const writer = spawn(process.execPath, ["--input-type=module", "-e", WRITER, mnt], {
      stdio: "ignore",
    });
    const cps = Math.floor(rand() * 6) + 1;
    for (let i = 0; i < cps; i++) {
      await sleep(Math.floor(rand() * 150));
      const res = await fetch(`${base}/v1/checkpoints`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      if (res.status !== 201) throw new Error(`checkpoint answered ${res.status}`);
      answered.push((await res.json()).id);
    }
    await sleep(Math.floor(rand() * 200));
    const hard = rand() < 0.7;
    const exited = new Promise((r) => sidecar.once("exit", r));
    sidecar.kill(hard ? "SIGKILL" : "SIGTERM");
    const code = await exited;
    if (!hard && code !== 0) throw new Error(`sidecar exited ${code} on SIGTERM`);
    if (hard) kills++;
    else stops++;
    if (writer.exitCode === null && writer.signalCode === null) {
      const gone = new Promise((r) => writer.once("exit", r));
      writer.kill("SIGKILL");
      await gone;
    }
    sidecar = await startSidecar();
    // Every checkpoint answered so far restores to whole records in order.
    for (const id of answered.slice(-8)) {
      const t = restore(id);
      check(t, `round ${round}, checkpoint ${id}`);
      rmSync(t, { recursive: true, force: true });
    }
    process.stdout.write(
      `round ${round}: ${hard ? "kill -9" : "SIGTERM"}, ${answered.length} checkpoints so far, ok\n`,
    );
  }
  for (const id of answered) {
    const t = restore(id);
    check(t, `final pass, checkpoint ${id}`);
    rmSync(t, { recursive: true, force: true });
  }
  const res = await fetch(`${base}/v1/checkpoints`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  const last = (await res.json()).id;
  const t = restore(last);
  for (const f of readdirSync(vol)) {
    if (!readFileSync(join(vol, f)).equals(readFileSync(join(t, "data", f))))
      throw new Error(`newest checkpoint differs from the volume in ${f}`);
  }
  console.log(
    `soak-intercept: PASS, seed ${seed}: ${rounds} rounds (${kills} kill -9, ${stops} SIGTERM), ${answered.length} checkpoints, all restored whole; newest equals the volume; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
} finally {
  sidecar.kill("SIGKILL");
  await sleep(200);
  spawnSync("umount", ["-l", mnt]);
  rmSync(root, { recursive: true, force: true });
}
