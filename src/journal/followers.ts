/**
 * Followers of a journal (the change stream) waiting for its next append,
 * each with a timeout so an idle stream still sends heartbeats.
 */
export class Followers {
  private waiting: (() => void)[] = [];

  /** Resolves at the next wake() or after `timeoutMs`, whichever comes first. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiting.push(done);
    });
  }

  /** Wakes every follower. */
  wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}
