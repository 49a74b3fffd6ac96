// The life of a test server: exit on SIGTERM/SIGINT and when the parent's end of a stdin pipe
// closes (never for a TTY or /dev/null), so no server outlives the test that started it.
import { fstatSync } from 'node:fs';

export function serveUntilParentGoes(server, log) {
  let exiting = false;
  const shutdown = (why) => {
    if (exiting) return;
    exiting = true;
    log(`exiting (${why})`);
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    const st = fstatSync(0);
    if (st.isFIFO() || st.isSocket()) {
      process.stdin.on('end', () => shutdown('stdin closed'));
      process.stdin.on('error', () => shutdown('stdin error'));
      process.stdin.resume();
    }
  } catch { /* no stdin */ }
  server.on('error', (err) => {
    log(`listen error: ${err.message}`);
    process.exit(1);
  });
}
