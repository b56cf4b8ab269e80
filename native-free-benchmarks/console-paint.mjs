#!/usr/bin/env node
// Console first paint and time to interactive with 10,000 checkpoints, served
// locally: seeds a journal with N checkpoints 5 s apart (ending now, mixed
// consistency, every 10th labelled), starts a real token-protected
// `pvjournal sidecar` on it, and loads /ui/ in Debian's chromium
// (playwright-core) RUNS times with the token already in sessionStorage.
// Reports first-contentful-paint and "interactive" (the console's
// pvj-interactive mark: status, all checkpoints and the timeline drawn, every
// control wired), plus the time from a zoom key press to the next frame.
// Not in scenarios/: it needs chromium. Usage (after npm run build):
//   node native-free-benchmarks/console-paint.mjs [--checkpoints N] [--runs R] [--screenshot PNG]
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { Journal } from "../dist/journal/journal.js";
import { freePort } from "./lib.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("--checkpoints", 10_000);
const RUNS = arg("--runs", 5);
const TOKEN = "bench-token";
const STEP_MS = 5_000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const root = await mkdtemp(join(tmpdir(), "pvj-console-bench-"));
let daemon = null;
let context = null;
try {
  const journalDir = join(root, "journal");
  await mkdir(join(root, "data"));
  // A clock that steps 5 s per checkpoint, so the window spans N × 5 s ending now.
  let t = Date.now() - N * STEP_MS;
  const journal = await Journal.open({ dir: journalDir, blockSize: 4096, clock: () => t });
  const kinds = ["fuzzy", "crash", "app"];
  const seedStart = performance.now();
  for (let i = 0; i < N; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 100); j++) {
      t += STEP_MS;
      batch.push(
        journal.checkpoint({ label: j % 10 === 0 ? `cp-${j}` : null, consistency: kinds[j % 3] }),
      );
    }
    await Promise.all(batch);
  }
  await journal.close();
  const seedMs = performance.now() - seedStart;

  const port = await freePort();
  await writeFile(join(root, "token"), `${TOKEN}\n`);
  await writeFile(
    join(root, "pvjournal.yaml"),
    [
      "sources:",
      "  - name: data",
      `    path: ${join(root, "data")}`,
      "journal:",
      `  dir: ${journalDir}`,
      "  blockSize: 4KiB",
      "  retention: 30d",
      "api:",
      `  listen: 127.0.0.1:${port}`,
      `  tokenFile: ${join(root, "token")}`,
      "checkpoints:",
      "  interval: 0",
      "log:",
      "  level: warn",
      "",
    ].join("\n"),
  );
  daemon = spawn(process.execPath, ["dist/cli.js", "sidecar", "-c", join(root, "pvjournal.yaml")], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error("sidecar not ready after 30 s");
    await new Promise((r) => setTimeout(r, 50));
  }

  context = await chromium.launchPersistentContext(join(root, "profile"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  await context.addInitScript((tok) => sessionStorage.setItem("pvjournal.token", tok), TOKEN);
  const fcp = [];
  const tti = [];
  const zoom = [];
  for (let r = 0; r < RUNS; r++) {
    const page = await context.newPage();
    await page.goto(`${base}/ui/`);
    await page.locator("body[data-ready=true]").waitFor({ timeout: 30_000 });
    const m = await page.evaluate(() => ({
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
      tti: performance.getEntriesByName("pvj-interactive")[0]?.startTime ?? null,
      shown: document.getElementById("view-range").textContent,
    }));
    if (!m.shown.startsWith(`${N} checkpoints`))
      throw new Error(`console shows "${m.shown}", seeded ${N}`);
    fcp.push(m.fcp);
    tti.push(m.tti);
    await page.focus("#timeline");
    const z = await page.evaluate(
      () =>
        new Promise((res) => {
          const c = document.getElementById("timeline");
          const t0 = performance.now();
          c.dispatchEvent(new KeyboardEvent("keydown", { key: "-", bubbles: true }));
          requestAnimationFrame(() => requestAnimationFrame(() => res(performance.now() - t0)));
        }),
    );
    zoom.push(z);
    if (r === 0 && process.argv.includes("--screenshot")) {
      const shot = process.argv[process.argv.indexOf("--screenshot") + 1];
      await page.keyboard.press("Home");
      await page.waitForTimeout(300);
      await page.locator("#timeline-section").screenshot({ path: shot });
    }
    await page.close();
  }
  const out = {
    checkpoints: N,
    runs: RUNS,
    seedSeconds: +(seedMs / 1000).toFixed(1),
    firstContentfulPaintMs: { median: Math.round(median(fcp)), max: Math.round(Math.max(...fcp)) },
    interactiveMs: { median: Math.round(median(tti)), max: Math.round(Math.max(...tti)) },
    zoomToFrameMs: { median: Math.round(median(zoom)), max: Math.round(Math.max(...zoom)) },
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await context?.close();
  daemon?.kill("SIGTERM");
  await new Promise((r) => (daemon ? daemon.on("close", r) : r()));
  await rm(root, { recursive: true, force: true, maxRetries: 5 });
}
