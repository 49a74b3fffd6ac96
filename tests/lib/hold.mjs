// Start one stack and keep it up until SIGTERM/SIGINT: for profiling and manual checks.
//   node tests/lib/hold.mjs   -> prints {"url":..., "client_id":..., "client_secret":..., "daemon_pid":...}
import { Stack } from './stack.mjs';

const stack = new Stack({ fcgiWorkers: Number(process.env.FLOWGATE_WORKERS || 4) });
await stack.start();
const app = await stack.addApp('hold', { scopes: 'transcribe streams' });
console.log(JSON.stringify({ url: stack.baseUrl, dir: stack.paths.dir, client_id: app.client_id,
  client_secret: app.client_secret, daemon_pid: stack.daemonPid, config: stack.paths.config }));
const stop = async () => { await stack.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
