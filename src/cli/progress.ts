/**
 * Progress for long operations: a redrawn bar on a TTY, plain periodic lines
 * otherwise (log collectors and CI logs cannot handle carriage returns).
 */
import { formatBytes } from "../util/size.js";

/** Reports progress of one operation. */
export interface Progress {
  update(done: number, total: number, detail?: string): void;
  finish(message: string): void;
}

/** A progress reporter on `stream` (stderr by default). */
export function createProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  const tty = stream.isTTY === true;
  let lastLine = 0;
  return {
    update(done, total, detail) {
      const now = Date.now();
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      const text = `${label}: ${pct}% (${formatBytes(done)} of ${formatBytes(total)})${detail ? ` ${detail}` : ""}`;
      if (tty) {
        const width = 24;
        const filled = Math.round((pct / 100) * width);
        stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}\u001b[K`);
      } else if (now - lastLine >= 2000) {
        // Every 2 s at most: enough to see it move, few enough lines to read.
        lastLine = now;
        stream.write(`${text}\n`);
      }
    },
    finish(message) {
      stream.write(tty ? `\r${message}\u001b[K\n` : `${message}\n`);
    },
  };
}
