/**
 * Scheduled drills (drills.schedule): every interval, one drill of the latest
 * checkpoint or of a random checkpoint inside the restore window
 * (drills.point), verified with drills.verify. A tick is skipped while the
 * previous scheduled drill is still queued or running.
 */
import type { DrillsConfig } from "../config/types.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/logger.js";
import type { DrillRunner } from "./runner.js";

/**
 * Which of `count` checkpoints (oldest first, inside the window) a scheduled
 * drill takes: the newest for "latest", a uniformly random one for "random".
 * Returns an offset, or null when there is none. Pure.
 */
export function pickCheckpointOffset(
  policy: DrillsConfig["point"],
  count: number,
  random: () => number,
): number | null {
  if (count <= 0) return null;
  if (policy === "latest") return count - 1;
  return Math.min(count - 1, Math.floor(random() * count));
}

/** The checkpoint id a scheduled drill takes now, or null when the journal has none in its window. */
export function scheduledCheckpoint(
  journal: Journal,
  policy: DrillsConfig["point"],
  random: () => number = Math.random,
): number | null {
  const oldest = journal.window()?.oldestSeq ?? 0;
  const count = journal.index.checkpointCountFrom(oldest);
  const offset = pickCheckpointOffset(policy, count, random);
  if (offset === null) return null;
  return journal.index.checkpointIdFrom(oldest, offset);
}

/** Starts the schedule (no-op when drills.schedule is 0 or drills are off); returns its stop function. */
export function startDrillSchedule(opts: {
  readonly runner: DrillRunner;
  readonly journal: Journal;
  readonly config: DrillsConfig;
  readonly logger: Logger;
  readonly random?: () => number;
}): () => void {
  const { runner, config, logger } = opts;
  if (config.schedule <= 0 || config.sandboxRoot === null) return () => undefined;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    try {
      if (runner.busy("schedule")) {
        logger.warn("the previous scheduled drill is still running; skipping this one");
      } else {
        const cp = scheduledCheckpoint(opts.journal, config.point, opts.random);
        if (cp === null) logger.warn("no checkpoint to drill yet; skipping the scheduled drill");
        else {
          const r = runner.submit({ point: { checkpoint: cp }, keep: false, trigger: "schedule" });
          logger.info({ drill: r.id, checkpoint: cp }, "scheduled drill queued");
        }
      }
    } catch (err) {
      logger.error({ err }, "cannot start the scheduled drill");
    }
    timer = setTimeout(tick, config.schedule);
    timer.unref();
  };
  timer = setTimeout(tick, config.schedule);
  timer.unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
