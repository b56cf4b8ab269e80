/**
 * The journal lock is atomic: of several processes racing for one journal
 * exactly one gets it; a stale lock (dead pid) is taken over, a live one is
 * not. Real child processes running the built lock module.
 */
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LOCK_FILE, releaseLock, takeLock } from "../src/journal/lock.js";
import { tmpDir } from "./helpers/index.js";

const LOCK_MODULE = fileURLToPath(new URL("../dist/journal/lock.js", import.meta.url));

/** Runs a child that tries the lock, holds it `holdMs`, and prints "won" or the error code. */
function contender(dir: string, holdMs: number): Promise<string> {
  const script = `
    const { takeLock, releaseLock } = await import(${JSON.stringify(LOCK_MODULE)});
    try {
      await takeLock(${JSON.stringify(dir)});
      process.stdout.write("won");
      await new Promise((r) => setTimeout(r, ${holdMs}));
      await releaseLock(${JSON.stringify(dir)});
    } catch (err) {
      process.stdout.write(err.code ?? String(err));
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    child.on("error", reject);
    child.on("close", () => resolve(out));
  });
}

describe("journal lock", () => {
  it("of 6 processes racing for a free journal, exactly one wins", async () => {
    for (let round = 0; round < 3; round++) {
      const dir = await tmpDir("pvj-lock-");
      const results = await Promise.all(Array.from({ length: 6 }, () => contender(dir, 1500)));
      expect(
        results.filter((r) => r === "won"),
        results.join(","),
      ).toHaveLength(1);
      expect(results.filter((r) => r === "JOURNAL_LOCKED")).toHaveLength(5);
    }
  });

  it("of 6 processes racing for a stale lock, exactly one takes it over", async () => {
    for (let round = 0; round < 3; round++) {
      const dir = await tmpDir("pvj-lock-");
      // A pid that is not running: a short-lived child that already exited.
      const dead = await new Promise<number>((resolve) => {
        const c = spawn(process.execPath, ["-e", ""]);
        c.on("close", () => resolve(c.pid!));
      });
      await writeFile(join(dir, LOCK_FILE), `${dead}\n`);
      const results = await Promise.all(Array.from({ length: 6 }, () => contender(dir, 1500)));
      expect(
        results.filter((r) => r === "won"),
        results.join(","),
      ).toHaveLength(1);
    }
  });

  it("a live owner keeps it; release removes only our own lock", async () => {
    const dir = await tmpDir("pvj-lock-");
    const sleeper = spawn("sleep", ["10"]);
    try {
      await writeFile(join(dir, LOCK_FILE), `${sleeper.pid}\n`);
      await expect(takeLock(dir)).rejects.toMatchObject({ code: "JOURNAL_LOCKED" });
      await releaseLock(dir);
      expect(await readFile(join(dir, LOCK_FILE), "utf8")).toBe(`${sleeper.pid}\n`);
    } finally {
      sleeper.kill("SIGKILL");
    }
    await writeFile(join(dir, LOCK_FILE), "garbage");
    await takeLock(dir);
    expect(await readFile(join(dir, LOCK_FILE), "utf8")).toBe(`${process.pid}\n`);
    await releaseLock(dir);
    await expect(readFile(join(dir, LOCK_FILE))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
