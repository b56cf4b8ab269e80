/**
 * Retention pins: every reader of a point (restore, drill, failover, diff,
 * mirror bootstrap) pins the point's seq for as long as it reads, so
 * retention never folds away what it is reading. One discipline: take the
 * pin right after resolving the point (no await in between), re-check that
 * the point was not folded meanwhile, and release in a `finally`.
 */
import { ErrorCode, RequestError } from "../errors.js";

/** Releases a pin; calling it again does nothing. */
export type Release = () => void;

/** The pins of one journal. */
export class PinSet {
  private readonly pins = new Map<number, number>();
  private counter = 0;

  /** Pins `seq`; the release is idempotent. */
  pin(seq: number): Release {
    const id = ++this.counter;
    this.pins.set(id, seq);
    return () => {
      this.pins.delete(id);
    };
  }

  /** The oldest pinned seq, or undefined. */
  min(): number | undefined {
    let min: number | undefined;
    for (const s of this.pins.values()) if (min === undefined || s < min) min = s;
    return min;
  }

  /** Pins currently held (exposed as journal.pins in /v1/status and pvjournal_journal_pins). */
  get count(): number {
    return this.pins.size;
  }
}

/** What pinPoint needs from a journal. */
export interface Pinnable {
  pin(seq: number): Release;
  /** Seq of the folded base: states before it are gone. */
  readonly baseSeq: number;
}

/**
 * Pins a resolved point and checks it is still restorable (retention may have
 * folded past it between resolving and pinning); throws POINT_OUT_OF_RANGE,
 * releasing the pin, when it was folded away.
 */
export function pinPoint(journal: Pinnable, seq: number): Release {
  const release = journal.pin(seq);
  if (seq < journal.baseSeq) {
    release();
    throw new RequestError(
      ErrorCode.POINT_OUT_OF_RANGE,
      `seq ${seq} was folded into the base by retention (oldest restorable seq ${journal.baseSeq})`,
    );
  }
  return release;
}

/** Runs `fn` with `seq` pinned; the pin is released however `fn` ends. */
export async function withPin<T>(journal: Pinnable, seq: number, fn: () => Promise<T>): Promise<T> {
  const release = pinPoint(journal, seq);
  try {
    return await fn();
  } finally {
    release();
  }
}
