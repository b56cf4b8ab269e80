/** Network helpers for tests that run real daemons. */
import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Racy by nature (another
 * process may take it before the daemon binds), but fine on a test machine.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("no port assigned"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
