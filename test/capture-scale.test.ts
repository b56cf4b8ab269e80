/**
 * Watch mode that scales with directories, not files: O(1) dirty marking,
 * settle() that costs O(dirty) when events can be trusted, directories made
 * after start watched, and a seeded model test of settle without a walk.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DirtySet } from "../src/capture/scheduler.js";
import { CaptureRig } from "./support/capture-harness.js";
import { freshSeed, prng } from "./support/prng.js";

const rigs: CaptureRig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

async function rig(opts: Parameters<typeof CaptureRig.create>[0]): Promise<CaptureRig> {
  const r = await CaptureRig.create(opts);
  rigs.push(r);
  return r;
}

/** The contents of every regular file of a restored (or reference) tree, by path. */
function filesOf(tree: Map<string, { kind: string; content?: Buffer }>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, e] of tree) if (e.kind === "file") out.set(p, e.content?.toString() ?? "");
  return out;
}

describe("DirtySet at scale", () => {
  it("marks 200k paths without rescanning the set (O(1) per mark)", () => {
    const d = new DirtySet(100, 500);
    const t = performance.now();
    for (let i = 0; i < 200_000; i++) d.mark(`data/d${i % 1000}/f${i}`, i / 100);
    for (let i = 0; i < 200_000; i++) d.mark(`data/d${i % 1000}/f${i}`, 2000 + i / 100);
    const ms = performance.now() - t;
    console.log(`DirtySet: 400k marks of 200k paths took ${ms.toFixed(0)} ms`);
    // The old set rescanned every entry per mark (50k marks took 9 s; 400k
    // would take hours); ~0.4 s here, the bound leaves room for a loaded machine.
    expect(ms).toBeLessThan(15_000);
    expect(d.size).toBe(200_000);
    expect(d.oldest()).toBe(0);
    const t2 = performance.now();
    const due = d.takeDue(2100, 100, 500, 5000);
    expect(performance.now() - t2).toBeLessThan(5000);
    expect(due.length).toBe(5000);
  });

  it("agrees with a naive model on due times, oldest mark and takes (seeded)", () => {
    const seed = freshSeed();
    console.log(`DirtySet model seed=${seed}`);
    const rand = prng(seed);
    const debounce = 100;
    const maxWait = 500;
    const d = new DirtySet(debounce, maxWait);
    const model = new Map<string, { first: number; last: number }>();
    const dueOf = (m: { first: number; last: number }) =>
      Math.min(m.last + debounce, Math.max(m.first + maxWait, m.last));
    let now = 0;
    for (let step = 0; step < 5000; step++) {
      now += rand.int(0, 20);
      const op = rand.next();
      if (op < 0.7) {
        const p = `p${rand.int(0, 200)}`;
        const at = now + (rand.chance(0.1) ? rand.int(0, 2000) : 0);
        d.mark(p, at, true);
        const m = model.get(p);
        if (m) {
          m.first = Math.min(m.first, at);
          m.last = Math.max(m.last, at);
        } else model.set(p, { first: at, last: at });
      } else if (op < 0.97) {
        const got = d
          .takeDue(now)
          .map((x) => x.path)
          .sort();
        const want = [...model]
          .filter(([, m]) => dueOf(m) <= now)
          .map(([p]) => p)
          .sort();
        expect(got, `seed=${seed} step ${step}`).toEqual(want);
        for (const p of want) model.delete(p);
      } else {
        const all = d.takeAll();
        expect(all.length).toBe(model.size);
        model.clear();
      }
      const next = model.size === 0 ? null : Math.min(...[...model.values()].map(dueOf));
      expect(d.nextDue(), `seed=${seed} step ${step}`).toBe(next);
      const oldest = model.size === 0 ? null : Math.min(...[...model.values()].map((m) => m.first));
      expect(d.oldest(), `seed=${seed} step ${step}`).toBe(oldest);
    }
  });
});

describe("capture: settle costs O(dirty)", () => {
  it("settle with 10 changed files among 3000 visits the dirty paths, not every path", async () => {
    const r = await rig({ usePolling: false, capture: { debounce: 60_000, maxWait: 60_000 } });
    const s = r.src();
    for (let d = 0; d < 30; d++) {
      await mkdir(join(s, `d${d}`));
      for (let f = 0; f < 100; f++) await writeFile(join(s, `d${d}`, `f${f}`), `v0 ${d} ${f}`);
    }
    await r.up();
    await r.checkpointer!.take(null); // the first settle after the scan
    const before = r.capture!.counters.visited;
    for (let i = 0; i < 10; i++) await writeFile(join(s, `d${i * 3}`, `f${i}`), `v1 ${i}`);
    const t = performance.now();
    const cp = await r.checkpointer!.take(null);
    const ms = performance.now() - t;
    const visited = r.capture!.counters.visited - before;
    console.log(
      `settle+checkpoint, 10 dirty of 3000: ${ms.toFixed(1)} ms, ${visited} paths visited`,
    );
    // 10 files and their 10 directories (marked by the same events), not 3031 paths.
    expect(visited).toBeLessThanOrEqual(40);
    const got = filesOf(await r.restore(cp.id));
    for (let i = 0; i < 10; i++) expect(got.get(`data/d${i * 3}/f${i}`)).toBe(`v1 ${i}`);
    expect(got.get("data/d1/f1")).toBe("v0 1 1");
    expect(got.size).toBe(3000);
  });

  it("captures a change in a directory created after start (it gets its own watch)", async () => {
    const r = await rig({ usePolling: false, capture: { debounce: 60_000, maxWait: 60_000 } });
    const s = r.src();
    await r.up();
    await mkdir(join(s, "new/deeper"), { recursive: true });
    await writeFile(join(s, "new/deeper/f"), "one");
    await r.checkpointer!.take(null);
    // That checkpoint's settle waited until the new directories had their watches.
    const before = r.capture!.counters.visited;
    await writeFile(join(s, "new/deeper/f"), "two, longer");
    await mkdir(join(s, "new/deeper/deepest"));
    await writeFile(join(s, "new/deeper/deepest/g"), "three");
    const cp = await r.checkpointer!.take(null);
    expect(r.capture!.counters.visited - before).toBeLessThan(10); // no walk of the source
    const got = filesOf(await r.restore(cp.id));
    expect(got.get("data/new/deeper/f")).toBe("two, longer");
    expect(got.get("data/new/deeper/deepest/g")).toBe("three");
  });

  it("seeded random create/modify/rename/delete across nested dirs: every checkpoint restores the model", async () => {
    const seed = freshSeed();
    console.log(`capture-scale model seed=${seed}`);
    const rand = prng(seed);
    const r = await rig({ usePolling: false });
    const s = r.src();
    const files = new Map<string, string>(); // rel path -> content
    const dirs = new Set<string>([""]);
    const pickDir = () => rand.pick([...dirs]);
    const under = (p: string, d: string) => p === d || p.startsWith(`${d}/`);
    let n = 0;
    await r.up();
    for (let round = 0; round < 8; round++) {
      const ops: string[] = [];
      for (let i = 0; i < rand.int(10, 40); i++) {
        const op = rand.next();
        if (op < 0.15 && dirs.size < 25) {
          const d = join(pickDir(), `d${n++}`);
          await mkdir(join(s, d));
          dirs.add(d);
          ops.push(`mkdir ${d}`);
        } else if (op < 0.45 || files.size === 0) {
          const f = join(pickDir(), `f${n++}`);
          const c = `c${n} ${"x".repeat(rand.int(0, 3000))}`;
          await writeFile(join(s, f), c);
          files.set(f, c);
          ops.push(`create ${f}`);
        } else if (op < 0.7) {
          const f = rand.pick([...files.keys()]);
          const c = `m${n++} ${"y".repeat(rand.int(0, 3000))}`;
          await writeFile(join(s, f), c);
          files.set(f, c);
          ops.push(`modify ${f}`);
        } else if (op < 0.8) {
          const f = rand.pick([...files.keys()]);
          const to = join(pickDir(), `r${n++}`);
          await rename(join(s, f), join(s, to));
          files.set(to, files.get(f)!);
          files.delete(f);
          ops.push(`rename ${f} ${to}`);
        } else if (op < 0.87 && dirs.size > 1) {
          const d = rand.pick([...dirs].filter((x) => x !== ""));
          const parent = rand.pick([...dirs].filter((x) => !under(x, d)));
          const to = join(parent, `rd${n++}`);
          await rename(join(s, d), join(s, to));
          for (const x of [...dirs].filter((x) => under(x, d))) {
            dirs.delete(x);
            dirs.add(to + x.slice(d.length));
          }
          for (const [p, c] of [...files].filter(([p]) => under(p, d))) {
            files.delete(p);
            files.set(to + p.slice(d.length), c);
          }
          ops.push(`rename dir ${d} ${to}`);
        } else if (op < 0.95) {
          const f = rand.pick([...files.keys()]);
          await rm(join(s, f));
          files.delete(f);
          ops.push(`remove ${f}`);
        } else if (dirs.size > 1) {
          const d = rand.pick([...dirs].filter((x) => x !== ""));
          await rm(join(s, d), { recursive: true });
          for (const x of [...dirs]) if (under(x, d)) dirs.delete(x);
          for (const p of [...files.keys()]) if (under(p, d)) files.delete(p);
          ops.push(`remove dir ${d}`);
        }
        if (rand.chance(0.2)) await new Promise((res) => setTimeout(res, rand.int(0, 50)));
      }
      const cp = await r.checkpointer!.take(null);
      const got = filesOf(await r.restore(cp.id));
      const want = new Map([...files].map(([p, c]) => [`data/${p}`, c]));
      expect([...got].sort(), `seed=${seed} round ${round} after ${ops.join("; ")}`).toEqual(
        [...want].sort(),
      );
    }
    expect(r.capture!.status().errors).toBe(0);
  });
});
