/**
 * Debian's chromium under playwright-core, launched the way this machine's
 * closed network needs: headless, no sandbox (root), and no background
 * connections (they are refused here, many at a time), in a fresh profile.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { type BrowserContext, chromium } from "playwright-core";
import { makeTmpDir } from "../helpers/index.js";

/** Debian's chromium package; `.ci/run` installs it when missing. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags for headless runs on this machine. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless chromium with a new, empty user-data-dir (the caller closes it). */
export async function launchChromium(): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const profile = await makeTmpDir("pvj-chromium-");
  // launchPersistentContext is playwright's way to pass a user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  context.on("close", () => {
    // Chromium may still be flushing its profile as it exits: retry, and never fail a test on it.
    void rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(
      () => undefined,
    );
  });
  return context;
}
