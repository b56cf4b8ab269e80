/**
 * Size strings as written in config files: `512B`, `64KiB`, `64MiB`, `1GiB`
 * (powers of 1024), `64KB`, `1MB`, `1GB` (powers of 1000), or a plain byte
 * count (`4096`). Pure functions; callers wrap the RangeError.
 */

import { wholeOrNull } from "./whole.js";

/** Bytes per size unit. IEC units are powers of 1024, SI units powers of 1000. */
export const SIZE_UNITS = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  KB: 1000,
  kB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
} as const;

/** A size unit accepted by parseSize. */
export type SizeUnit = keyof typeof SIZE_UNITS;

const EXPECTED = "(expected e.g. 4096, 64KiB, 64MiB, 1GiB)";
const SIZE_RE = /^(\d+(?:\.\d+)?) ?(B|KiB|MiB|GiB|TiB|KB|kB|MB|GB|TB)?$/;

/**
 * Parses a size into whole bytes. Throws RangeError (message quotes the input)
 * for negatives, garbage, unknown units or a fractional number of bytes.
 */
export function parseSize(text: string): number {
  if (typeof text !== "string") {
    throw new RangeError(`${JSON.stringify(text)} is not a valid size ${EXPECTED}`);
  }
  const match = SIZE_RE.exec(text.trim());
  if (match === null) {
    throw new RangeError(`${JSON.stringify(text)} is not a valid size ${EXPECTED}`);
  }
  const amount = Number(match[1]);
  const unit = (match[2] ?? "B") as SizeUnit;
  // 1.5GiB is fine, 1.5B or 0.1KiB (102.4 bytes) is not a byte count.
  const bytes = wholeOrNull(amount * SIZE_UNITS[unit]);
  if (bytes === null) {
    throw new RangeError(
      `${JSON.stringify(text)} is not a valid size: not a whole number of bytes ${EXPECTED}`,
    );
  }
  return bytes;
}

const HUMAN_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** Formats bytes for humans with binary units and at most one decimal: `512 B`, `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < HUMAN_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, "");
  return `${sign}${text} ${HUMAN_UNITS[unit]}`;
}
