import { ErrorCode, RequestError } from "../errors.js";
import type { Journal } from "./journal.js";

/** A restore point as a user names it: exactly one of checkpoint, seq or at (ms since epoch). */
export type Point =
  | { readonly checkpoint: number }
  | { readonly seq: number }
  | { readonly at: number };

/** A point resolved to a journal position. */
export interface ResolvedPoint {
  readonly seq: number;
  readonly ts: number;
  readonly checkpoint: number | null;
}

/**
 * Parses the textual point syntax of `diff` and the CLI: `cp:ID`, `seq:N`, or
 * an ISO 8601 time. Throws INVALID_POINT with the accepted forms.
 */
export function parsePoint(text: string): Point {
  const cp = /^cp:(\d+)$/.exec(text);
  if (cp) return { checkpoint: Number(cp[1]) };
  const sq = /^seq:(\d+)$/.exec(text);
  if (sq) return { seq: Number(sq[1]) };
  return { at: parseTime(text) };
}

/** Parses an ISO 8601 time with an explicit zone (Z or ±hh:mm); ms since epoch. */
export function parseTime(text: string): number {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
  const ms = iso.test(text) ? Date.parse(text) : Number.NaN;
  // Date.parse rolls impossible dates over (Feb 31 -> Mar 3): the calendar
  // date must survive a round trip in the time's own offset.
  if (!Number.isFinite(ms) || !sameCalendarDate(text, ms)) {
    throw new RequestError(
      ErrorCode.INVALID_POINT,
      `invalid point "${text}": expected cp:ID, seq:N, or an ISO 8601 time with a zone such as 2026-11-25T12:00:00.000Z`,
    );
  }
  return ms;
}

/** True when the Y-M-D of an ISO text is the date `ms` falls on in the text's own zone offset. */
function sameCalendarDate(text: string, ms: number): boolean {
  const zone = /(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  const offsetMin =
    !zone || zone[1] === "Z"
      ? 0
      : (zone[2] === "-" ? -1 : 1) * (Number(zone[3]) * 60 + Number(zone[4]));
  return new Date(ms + offsetMin * 60_000).toISOString().slice(0, 10) === text.slice(0, 10);
}

/**
 * Resolves a point against a journal. `at` is the newest position whose
 * timestamp is <= at; a point before the window or after `now` is
 * POINT_OUT_OF_RANGE, never a nearest match.
 */
export function resolvePoint(journal: Journal, point: Point, now: number): ResolvedPoint {
  const win = journal.window();
  const range = win
    ? `the journal holds seq ${win.oldestSeq}..${win.newestSeq}, ${new Date(win.oldestTs).toISOString()} .. now`
    : "the journal is empty";
  if ("checkpoint" in point) {
    const cp = journal.index.checkpoint(point.checkpoint);
    if (!cp)
      throw new RequestError(
        ErrorCode.CHECKPOINT_NOT_FOUND,
        `checkpoint ${point.checkpoint} not found`,
      );
    if (win && cp.seq < win.oldestSeq) {
      throw new RequestError(
        ErrorCode.POINT_OUT_OF_RANGE,
        `checkpoint ${cp.id} is older than the retention window; ${range}`,
      );
    }
    return { seq: cp.seq, ts: cp.ts, checkpoint: cp.id };
  }
  if (!win) throw new RequestError(ErrorCode.POINT_OUT_OF_RANGE, `no restore points: ${range}`);
  if ("seq" in point) {
    if (
      !Number.isSafeInteger(point.seq) ||
      point.seq < win.oldestSeq ||
      point.seq > win.newestSeq
    ) {
      throw new RequestError(
        ErrorCode.POINT_OUT_OF_RANGE,
        `seq ${point.seq} is outside the window; ${range}`,
      );
    }
    return {
      seq: point.seq,
      ts: journal.index.tsAtSeq(point.seq) ?? win.oldestTs,
      checkpoint: null,
    };
  }
  if (point.at > now) {
    throw new RequestError(
      ErrorCode.POINT_OUT_OF_RANGE,
      `${new Date(point.at).toISOString()} is in the future; ${range}`,
    );
  }
  if (point.at < win.oldestTs) {
    throw new RequestError(
      ErrorCode.POINT_OUT_OF_RANGE,
      `${new Date(point.at).toISOString()} is before the oldest restorable point; ${range}`,
    );
  }
  const after = journal.index.firstSeqAfterTs(point.at);
  const seq = after === null ? win.newestSeq : after - 1;
  return { seq, ts: journal.index.tsAtSeq(seq) ?? win.oldestTs, checkpoint: null };
}
