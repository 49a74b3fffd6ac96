// A free TCP port on 127.0.0.1 (bind to port 0, read it back, release it).
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A port on 127.0.0.1 where nothing listens (for "upstream unreachable" cases). */
export const closedPort = freePort;
