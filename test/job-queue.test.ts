/** The one queue of restores and drills: FIFO, a global limit, a per-lane limit, removal before start. */
import { describe, expect, it } from "vitest";
import { JobQueue } from "../src/restore/job-queue.js";

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

describe("JobQueue", () => {
  it("runs at most `concurrency` jobs, at most one drill, in FIFO order otherwise", async () => {
    const q = new JobQueue(2);
    const log: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const job = (name: string, lane: string, limit?: number) => {
      const g = gate();
      gates.set(name, g);
      return q.add(
        async () => {
          log.push(`start ${name}`);
          await g.p;
          log.push(`end ${name}`);
        },
        lane,
        limit,
      );
    };
    const d1 = job("d1", "drill", 1);
    const d2 = job("d2", "drill", 1);
    const r1 = job("r1", "restore");
    const r2 = job("r2", "restore");
    // d1 and r1 run (d2 waits for its lane, r2 for a slot).
    expect(log).toEqual(["start d1", "start r1"]);
    expect(q.active).toBe(2);
    expect(r2.dequeue()).toBe(true);
    expect(r2.dequeue()).toBe(false);
    await r2.done;
    gates.get("r1")!.open();
    await r1.done;
    // A slot is free, but d2's lane is still busy: nothing else starts.
    expect(log).toEqual(["start d1", "start r1", "end r1"]);
    gates.get("d1")!.open();
    await d1.done;
    await new Promise((r) => setImmediate(r));
    expect(log.at(-1)).toBe("start d2");
    expect(d2.dequeue()).toBe(false);
    gates.get("d2")!.open();
    await d2.done;
    expect(q.active).toBe(0);
  });

  it("passes a job's failure to its done promise and keeps going", async () => {
    const q = new JobQueue(1);
    const bad = q.add(async () => {
      throw new Error("boom");
    });
    const good = q.add(async () => undefined);
    await expect(bad.done).rejects.toThrow("boom");
    await expect(good.done).resolves.toBeUndefined();
  });
});
