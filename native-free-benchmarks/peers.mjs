// The contenders of the peer benchmarks, each behind the same small shape:
// pvjournal (a capture child process + the offline `pvjournal restore` CLI),
// restic, borg, and `cp -r` (the floor for restores). Peers run with their
// defaults (restic: repository v2, compression auto; borg: lz4, no
// encryption), with caches and config inside the scratch directory.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { CLI, dirBytes, have, runMeasured } from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, "capture-process.mjs");

/** Starts pvjournal's capture in a child process; call(msg) sends one command (see capture-process.mjs). */
export function startCapture({ src, journal, blockSize }) {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ src, journal, blockSize })], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const waiting = [];
  let exited = null;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const w = waiting.shift();
    const reply = JSON.parse(line);
    if (reply.error) w?.reject(new Error(`capture process: ${reply.error}`));
    else w?.resolve(reply);
  });
  const done = new Promise((resolve) =>
    child.on("close", (code) => {
      exited = code;
      for (const w of waiting.splice(0)) w.reject(new Error(`capture process exited ${code}`));
      resolve();
    }),
  );
  const call = (msg) =>
    new Promise((resolve, reject) => {
      if (exited !== null) return reject(new Error(`capture process exited ${exited}`));
      waiting.push({ resolve, reject });
      child.stdin.write(`${JSON.stringify(msg)}\n`);
    });
  return {
    call,
    /** Stops the capture and waits for the process; kills it if it does not answer. */
    async stop() {
      if (exited === null) {
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        await call({ op: "stop" }).catch(() => undefined);
        child.stdin.end();
        await done;
        clearTimeout(timer);
      }
    },
  };
}

/** `pvjournal restore --checkpoint ID` offline from a journal directory, measured. */
export function pvjournalRestore(journal, checkpointId, target) {
  return runMeasured(process.execPath, [
    CLI,
    "restore",
    "--checkpoint",
    String(checkpointId),
    "--target",
    target,
    "--journal",
    journal,
  ]);
}

/** restic with a local repository; null when not installed. */
export function resticPeer(dir) {
  if (!have("restic")) return null;
  const repo = join(dir, "restic-repo");
  const env = {
    ...process.env,
    RESTIC_PASSWORD: "pvjournal-bench",
    RESTIC_CACHE_DIR: join(dir, "restic-cache"),
  };
  return {
    name: "restic",
    repo,
    init: () => runMeasured("restic", ["-r", repo, "init"], { env }),
    /** Backs up `rel` (relative to cwd, so a restore recreates `rel` below its target). */
    backup(cwd, rel, label) {
      const m = runMeasured("restic", ["-r", repo, "backup", "--json", "--tag", label, rel], {
        env,
        cwd,
      });
      const summary = m.stdout
        .split("\n")
        .filter((l) => l.includes('"summary"'))
        .map((l) => JSON.parse(l))
        .at(-1);
      if (!summary?.snapshot_id) throw new Error("restic backup printed no snapshot id");
      return { ...m, id: summary.snapshot_id };
    },
    restore: (id, target) =>
      runMeasured("restic", ["-r", repo, "restore", id, "--target", target], { env }),
    bytes: () => dirBytes(repo),
  };
}

/** borg 1.x with an unencrypted local repository; null when not installed. */
export function borgPeer(dir) {
  if (!have("borg")) return null;
  const repo = join(dir, "borg-repo");
  const env = {
    ...process.env,
    BORG_BASE_DIR: join(dir, "borg-base"),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
    BORG_RELOCATED_REPO_ACCESS_IS_OK: "yes",
  };
  return {
    name: "borg",
    repo,
    init: () => runMeasured("borg", ["init", "-e", "none", repo], { env }),
    backup(cwd, rel, label) {
      const m = runMeasured("borg", ["create", `${repo}::${label}`, rel], { env, cwd });
      return { ...m, id: label };
    },
    restore(id, target) {
      mkdirSync(target, { recursive: true });
      return runMeasured("borg", ["extract", `${repo}::${id}`], { env, cwd: target });
    },
    bytes: () => dirBytes(repo),
  };
}

/** `cp -r` of a tree: the floor for materialising it (no fsync, no checks). */
export function cpTree(from, to) {
  mkdirSync(dirname(to), { recursive: true });
  return runMeasured("cp", ["-r", from, to]);
}
