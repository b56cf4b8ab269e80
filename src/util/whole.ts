/**
 * `exact` as a whole number, tolerating binary floating point noise
 * (1.1 * 1000); null when it has a real fraction or is not a safe integer.
 * How the size and duration parsers turn `amount * unit` into a count.
 */
export function wholeOrNull(exact: number): number | null {
  const n = Math.round(exact);
  return Math.abs(exact - n) > 1e-6 || !Number.isSafeInteger(n) ? null : n;
}
