/**
 * Duration strings as written in config files, env vars and API bodies:
 * `250ms`, `5s`, `10m`, `24h`, `30d`, fractions like `1.5s`, and a bare `0`.
 * Pure functions; callers turn the RangeError into their own error type
 * (ConfigError in the loader, a 400 in the HTTP API).
 */

import { wholeOrNull } from "./whole.js";

/** Milliseconds per duration unit. Lower case only: `m` is minutes, never months. */
export const DURATION_UNITS = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const;

/** A duration unit accepted by parseDuration. */
export type DurationUnit = keyof typeof DURATION_UNITS;

/** Longest delay setTimeout/setInterval honour (2^31-1 ms, ~24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const EXPECTED = "(expected e.g. 250ms, 5s, 24h)";
// Digits, an optional fraction, optional blank, a unit. No sign (negative
// durations are always a mistake), no exponent, no compound `1h30m`.
const DURATION_RE = /^(\d+(?:\.\d+)?) ?(ms|s|m|h|d)$/;

/**
 * Parses a duration into whole milliseconds. Throws RangeError (message quotes
 * the input) for negatives, garbage, a number without a unit (except `0`), or a
 * value that is not a whole number of milliseconds.
 */
export function parseDuration(text: string): number {
  if (typeof text !== "string") {
    throw new RangeError(`${JSON.stringify(text)} is not a valid duration ${EXPECTED}`);
  }
  const trimmed = text.trim();
  if (trimmed === "0") return 0;
  const match = DURATION_RE.exec(trimmed);
  if (match === null) {
    // A bare number is the most common mistake: say which unit is missing.
    const hint = /^\d+(\.\d+)?$/.test(trimmed) ? ": a unit is required" : "";
    throw new RangeError(`${JSON.stringify(text)} is not a valid duration${hint} ${EXPECTED}`);
  }
  const amount = Number(match[1]);
  const unit = match[2] as DurationUnit;
  // Binary floating point noise (1.1 * 1000) is fine, real sub-ms values are not.
  const ms = wholeOrNull(amount * DURATION_UNITS[unit]);
  if (ms === null) {
    throw new RangeError(
      `${JSON.stringify(text)} is not a valid duration: not a whole number of milliseconds ${EXPECTED}`,
    );
  }
  return ms;
}

/**
 * Formats milliseconds for humans: the two largest units, e.g. `250ms`,
 * `1.5s`, `10m 5s`, `1d 2h`. Not meant to be parsed back.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(Math.round(ms));
  if (rest < 1_000) return `${sign}${rest}ms`;
  if (rest < 60_000) return `${sign}${trimZeros((rest / 1_000).toFixed(3))}s`;
  rest = Math.round(rest / 1_000); // whole seconds from here on
  const parts: Array<[number, string]> = [
    [Math.floor(rest / 86_400), "d"],
    [Math.floor((rest % 86_400) / 3_600), "h"],
    [Math.floor((rest % 3_600) / 60), "m"],
    [rest % 60, "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  const shown = parts.slice(first, first + 2).filter(([n]) => n > 0);
  return sign + shown.map(([n, u]) => `${n}${u}`).join(" ");
}

function trimZeros(fixed: string): string {
  return fixed.replace(/\.?0+$/, "");
}
