/**
 * Takes checkpoints: pre hook (quiesce) -> capture.settle() -> post hook
 * (always, even when the settle failed) -> checkpoint record carrying both
 * hook outcomes. Consistency is "app" only when a pre hook is configured and
 * succeeded; otherwise it is what the capture can promise ("crash" for
 * intercept, "fuzzy" for watch). Also takes automatic checkpoints every `interval` ms while
 * something changed since the last one. Calls are serialised.
 */
import type { CheckpointsConfig } from "../config/types.js";
import type { CheckpointRow } from "../journal/index-db.js";
import type { Journal } from "../journal/journal.js";
import type { HookOutcome } from "../journal/records.js";
import type { Logger } from "../log/logger.js";
import { runHook } from "./hooks.js";

/** What the checkpointer needs of the capture. */
export interface Settleable {
  /** What a checkpoint of this capture holds without a successful pre hook. */
  readonly consistency: "crash" | "fuzzy";
  settle(): Promise<void>;
  status(): { readonly dirtyPaths: number };
}

/** Options of a Checkpointer. */
export interface CheckpointerOptions {
  readonly journal: Journal;
  readonly capture: Settleable;
  readonly hooks: CheckpointsConfig["hooks"];
  /** Automatic checkpoint interval in ms; 0 = only on request (tests drive take()). */
  readonly interval: number;
  readonly logger: Logger;
}

/** See the module comment. */
export class Checkpointer {
  private readonly opts: CheckpointerOptions;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private lastSeq: number;
  private autoRunning = false;

  constructor(opts: CheckpointerOptions) {
    this.opts = opts;
    this.lastSeq = opts.journal.index.lastCheckpoint()?.seq ?? 0;
  }

  /** Starts automatic checkpoints (no-op when interval is 0). */
  start(): void {
    if (this.opts.interval <= 0 || this.timer) return;
    this.timer = setInterval(() => this.auto(), this.opts.interval);
    this.timer.unref();
  }

  /** Stops automatic checkpoints and waits for a running one. Idempotent. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.chain.catch(() => undefined);
  }

  /** True when something changed since the last checkpoint (journaled or still dirty). */
  changedSinceLast(): boolean {
    return this.opts.journal.lastSeq > this.lastSeq || this.opts.capture.status().dirtyPaths > 0;
  }

  /** Takes one checkpoint (serialised with every other take). Rejects when the settle failed. */
  take(label: string | null): Promise<CheckpointRow> {
    const run = this.chain.then(() => this.takeNow(label));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private auto(): void {
    if (this.autoRunning || !this.changedSinceLast()) return;
    this.autoRunning = true;
    this.take(null)
      .catch((err: unknown) => this.opts.logger.warn({ err }, "automatic checkpoint failed"))
      .finally(() => {
        this.autoRunning = false;
      });
  }

  private async takeNow(label: string | null): Promise<CheckpointRow> {
    const { hooks, logger } = this.opts;
    let pre: HookOutcome | undefined;
    if (hooks.pre) {
      pre = await runHook(hooks.pre, hooks.timeout);
      if (!pre.ok)
        logger.warn(
          { hook: "pre", outcome: pre },
          `checkpoint pre hook failed: checkpoint is ${this.opts.capture.consistency}`,
        );
    }
    let settleError: unknown = null;
    try {
      await this.opts.capture.settle();
    } catch (err) {
      settleError = err;
    }
    let post: HookOutcome | undefined;
    if (hooks.post) {
      post = await runHook(hooks.post, hooks.timeout);
      if (!post.ok) logger.warn({ hook: "post", outcome: post }, "checkpoint post hook failed");
    }
    if (settleError !== null) {
      logger.error({ err: settleError }, "checkpoint failed: capture could not settle");
      throw settleError;
    }
    const hookOutcomes =
      pre || post ? { ...(pre ? { pre } : {}), ...(post ? { post } : {}) } : undefined;
    const row = await this.opts.journal.checkpoint({
      label,
      consistency: pre?.ok === true ? "app" : this.opts.capture.consistency,
      ...(hookOutcomes ? { hooks: hookOutcomes } : {}),
    });
    this.lastSeq = row.seq;
    logger.info(
      { id: row.id, seq: row.seq, label, consistency: row.consistency },
      "checkpoint taken",
    );
    return row;
  }
}
