/**
 * The web console in a real browser: Debian's chromium driven by
 * playwright-core against a real token-protected sidecar and a replica
 * following it. Sign in, see the seeded checkpoints, pick one, see the diff,
 * restore it into an allowed target and compare the files byte for byte, run a
 * drill whose verify command fails and see it reported failed, fail the
 * replica over behind its confirmation; a wrong token shows an error and no
 * data. Screenshots go to test-artifacts/screenshots/ (kept by CI).
 * Needs `npm run build` (the daemons run dist/cli.js) and /usr/bin/chromium.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "./support/chromium.js";
import { UI_TOKEN, UiRig, VERIFY_EXIT } from "./support/ui-rig.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SHOTS = resolve(import.meta.dirname, "..", "test-artifacts", "screenshots");

let context: BrowserContext;
const rigs: UiRig[] = [];
/** Uncaught errors and console errors of every page: a test fails on any. */
const pageErrors: string[] = [];

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  context = await launchChromium();
}, 60_000);
afterAll(async () => {
  await context?.close();
});
afterEach(async () => {
  for (const p of context.pages()) await p.close();
  for (const r of rigs.splice(0)) await r.close();
  expect(pageErrors.splice(0)).toEqual([]);
});

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  return page;
}

/** Every URL the page asked for, to check that the token never appears in one. */
function recordUrls(page: Page): string[] {
  const urls: string[] = [];
  page.on("request", (r) => urls.push(r.url()));
  return urls;
}

/** Clicks the timeline canvas where time `t` (epoch ms) is drawn, on the marks' row. */
async function clickAt(page: Page, t: number): Promise<void> {
  const canvas = page.locator("#timeline");
  const box = (await canvas.boundingBox())!;
  const from = Number(await canvas.getAttribute("data-view-from"));
  const to = Number(await canvas.getAttribute("data-view-to"));
  // 30 px: the marks' row (timeline.js Y.mark); the canvas has a 1 px border.
  await canvas.click({ position: { x: ((t - from) / (to - from)) * (box.width - 2) + 1, y: 31 } });
}

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.locator("#login").waitFor({ state: "visible" });
  await page.fill("#token", token);
  await page.click("#login-form button[type=submit]");
}

describe("web console (chromium, real daemons)", () => {
  it("signs in, restores a picked checkpoint byte-exact, reports a failing drill, fails over", async () => {
    const rig = await UiRig.create();
    rigs.push(rig);
    const files = {
      "orders.db": Buffer.alloc(64 * 1024, 7),
      "config/app.yaml": Buffer.from("replicas: 3\n"),
      "notes.txt": Buffer.from("first version\n"),
    };
    await mkdir(join(rig.source, "config"));
    for (const [p, b] of Object.entries(files)) await writeFile(join(rig.source, p), b);
    await rig.startSidecar();
    const first = await rig.checkpoint("before-migration");
    // Spread the points out a little so the screenshot shows each mark and label.
    await sleep(400);
    await writeFile(join(rig.source, "notes.txt"), "second version, longer than the first\n");
    const target = await rig.checkpoint("after-notes");
    // The reference: every file as it is at checkpoint `target`.
    const reference = new Map<string, Buffer>();
    for (const p of Object.keys(files)) reference.set(p, await readFile(join(rig.source, p)));
    // Changes after the point: the diff against now must show them.
    await writeFile(join(rig.source, "orders.db"), Buffer.alloc(64 * 1024, 9));
    await writeFile(join(rig.source, "new-after.txt"), "created after the point\n");
    await sleep(400);
    await rig.checkpoint("bad-migration");
    await rig.startReplica();

    const page = await newPage();
    const urls = recordUrls(page);
    const t0 = Date.now();
    await signIn(page, rig.sidecar, UI_TOKEN);
    await page.locator("body[data-ready=true]").waitFor({ timeout: 15_000 });
    console.log(`console ready ${Date.now() - t0} ms after navigation`);
    await expect.poll(() => page.textContent("#view-range")).toContain("3 checkpoints");
    await expect.poll(() => page.textContent("#summary")).toContain("sidecar");
    await page.click("details summary");
    const table = await page.textContent("#cp-table");
    for (const l of ["before-migration", "after-notes", "bad-migration"])
      expect(table).toContain(l);
    // The replica appears in the sidecar's replicas panel once it acknowledged.
    await expect.poll(() => page.textContent("#replicas"), { timeout: 15_000 }).toContain("✓ yes");

    // Keyboard path on the canvas: "]" from nothing picks the oldest, "]" again the next.
    await page.focus("#timeline");
    await page.keyboard.press("]");
    await expect.poll(() => page.textContent("#point")).toContain(`checkpoint ${first.id} `);
    await page.keyboard.press("]");
    await expect.poll(() => page.textContent("#point")).toContain(`checkpoint ${target.id} `);
    // The mouse path: a click on a mark picks that checkpoint, a click away from marks a time.
    await clickAt(page, Date.parse(first.ts));
    await expect.poll(() => page.textContent("#point")).toContain("before-migration");
    await clickAt(page, Date.parse(first.ts) + 200);
    await expect.poll(() => page.textContent("#point")).toMatch(/^time .* UTC/);
    // Against another point: from the oldest checkpoint to the picked one.
    await page.click(`button[aria-label="Pick checkpoint ${first.id}"]`);
    await page.fill("#diff-to", `cp:${target.id}`);
    await page.click("#diff-btn");
    await expect.poll(() => page.textContent("#diff-result")).toContain("data/notes.txt");
    expect(await page.textContent("#diff-result")).not.toContain("new-after.txt");
    await page.fill("#diff-to", "");
    await page.click(`button[aria-label="Pick checkpoint ${target.id}"]`);
    expect(await page.textContent("#point")).toContain("after-notes");
    // Zoom in around the picked point (the + button centres on it).
    await page.click("#zoom-in");
    await page.locator("#timeline-section").screenshot({ path: join(SHOTS, "timeline.png") });

    await page.click("#diff-btn");
    const diff = page.locator("#diff-result");
    await diff.waitFor();
    const diffText = (await diff.textContent()) ?? "";
    expect(diffText).toContain("1 created");
    expect(diffText).toContain("new-after.txt");
    expect(diffText).toContain("orders.db");

    expect(await page.textContent("#roots")).toBe(rig.restores);
    // Outside the allowed roots: the contract's error, nothing written.
    await page.fill("#target", join(rig.root, "elsewhere"));
    await page.click("#restore-btn");
    await expect.poll(() => page.textContent("#restore-progress")).toContain("TARGET_NOT_ALLOWED");
    const dest = join(rig.restores, "from-console");
    await page.fill("#target", dest);
    await page.click("#restore-btn");
    await page.locator("#restore-state[data-state=done]").waitFor({ timeout: 30_000 });
    for (const [p, want] of reference) {
      const got = await readFile(join(dest, "data", p));
      expect(got.equals(want), `restored ${p} byte for byte`).toBe(true);
    }
    expect(existsSync(join(dest, "data", "new-after.txt"))).toBe(false);

    // A drill with the configured verify command, which exits 3: reported failed.
    await page.selectOption("#drill-verify", "default");
    await page.click("#drill-btn");
    const row = page.locator("#drill-table tbody tr").first();
    await expect
      .poll(() => row.textContent(), { timeout: 30_000 })
      .toContain(`✗ FAILED (verify exit ${VERIFY_EXIT})`);
    expect(await row.textContent()).toContain("rows missing in the sandbox");
    const drills = await rig.api<{ drills: { passed: boolean | null }[] }>(rig.sidecar, "/drills");
    expect(drills.drills[0]!.passed).toBe(false);
    await page.locator("#drills-section").screenshot({ path: join(SHOTS, "drill-report.png") });
    await page.locator("#timeline-section").screenshot({ path: join(SHOTS, "timeline-drill.png") });
    // The HTML report, one click away: fetched with the token and saved as a file.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.locator("button", { hasText: "HTML report" }).click(),
    ]);
    const report = await readFile((await download.path())!, "utf8");
    expect(report).toContain("FAILED");
    expect(report).toContain("rows missing in the sandbox");
    const view = await newPage();
    await view.setContent(report);
    await view.screenshot({ path: join(SHOTS, "drill-report-html.png"), fullPage: true });
    await view.close();
    await page.screenshot({ path: join(SHOTS, "console-sidecar.png"), fullPage: true });

    // The token went in a header only, never into a URL.
    expect(urls.length).toBeGreaterThan(5);
    for (const u of urls) expect(u).not.toContain(UI_TOKEN);

    // The replica's console: its mirror, and failover behind a confirmation naming the point.
    const rp = await newPage();
    await signIn(rp, rig.replica, UI_TOKEN);
    await rp.locator("body[data-ready=true]").waitFor({ timeout: 15_000 });
    await expect.poll(() => rp.textContent("#summary")).toContain("replica");
    await expect.poll(() => rp.textContent("#view-range")).toContain("3 checkpoints");
    const panel = (await rp.textContent("#replicas")) ?? "";
    expect(panel).toContain(`${join(rig.root, "mirror")} at seq`);
    expect(panel).toContain("Promotedno");
    expect(panel).not.toContain("[object");
    await rp.click("details summary");
    await rp.click(`button[aria-label="Pick checkpoint ${target.id}"]`);
    await rp.click("#failover-btn");
    const text = (await rp.textContent("#confirm-text")) ?? "";
    expect(text).toContain(`checkpoint ${target.id}`);
    expect(text).toContain("after-notes");
    await rp.screenshot({ path: join(SHOTS, "failover-confirm.png") });
    await rp.click("#confirm-ok");
    await expect
      .poll(() => rp.textContent("#failover-msg"), { timeout: 30_000 })
      .toContain("Promoted");
    const status = await rig.api<{ replica: { promoted: boolean } }>(rig.replica, "/status");
    expect(status.replica.promoted).toBe(true);
    const mirrored = await readFile(join(rig.root, "mirror", "data", "notes.txt"));
    expect(mirrored.equals(reference.get("notes.txt")!)).toBe(true);
  }, 180_000);

  it("a wrong token shows the contract's error and no data; the page itself is strict", async () => {
    const rig = await UiRig.create();
    rigs.push(rig);
    await writeFile(join(rig.source, "secret.txt"), "x");
    await rig.startSidecar();
    await rig.checkpoint("do-not-show");

    const res = await fetch(`${rig.sidecar}/ui/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=|\son[a-z]+=/);
    expect((await fetch(`${rig.sidecar}/ui/%2e%2e/package.json`)).status).toBe(404);
    expect((await fetch(`${rig.sidecar}/ui/nope.js`)).status).toBe(404);

    const page = await newPage();
    await page.goto(`${rig.sidecar}/ui/`);
    // With a token configured the page loads but shows nothing until one is given.
    await page.locator("#login").waitFor({ state: "visible" });
    expect(await page.isVisible("#app")).toBe(false);
    await signIn(page, rig.sidecar, "not-the-token");
    await expect.poll(() => page.textContent("#login-error")).toContain("UNAUTHORIZED");
    expect(await page.textContent("#login-error")).toContain("invalid bearer token");
    expect(await page.isVisible("#app")).toBe(false);
    expect(await page.textContent("#summary")).toBe("");
    expect(await page.content()).not.toContain("do-not-show");
    expect(await page.evaluate("sessionStorage.getItem('pvjournal.token')")).toBeNull();
    await page.screenshot({ path: join(SHOTS, "wrong-token.png") });
  }, 60_000);
});
