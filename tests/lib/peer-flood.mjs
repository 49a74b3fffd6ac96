#!/usr/bin/env node
// Open N connections to a daemon socket as whoever runs this (tests run it under setpriv as
// the web user), ask "health" on each and print {"accepted":K} once all have answered or been
// refused; then hold every connection open until stdin closes. A full listen backlog (EAGAIN
// at connect, when the daemon's loop is slow to accept on a loaded machine) is not a refusal by
// the daemon: that connect is tried again.
import { FrameConn } from './frame.mjs';

async function openRetrying(path) {
  for (let tries = 0; ; tries++) {
    try {
      return await FrameConn.open(path);
    } catch (e) {
      if (e.code !== 'EAGAIN' || tries >= 500) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const [path, n] = [process.argv[2], Number(process.argv[3])];
const conns = [];
let accepted = 0;
for (let i = 0; i < n; i++) {
  try {
    const c = await openRetrying(path);
    conns.push(c);
  } catch { /* refused at connect */ }
}
const replies = await Promise.all(conns.map((c) => c.call({ verb: 'health' }, { timeoutMs: 5000 })));
for (const r of replies) if (r && r.body && r.body.ok) accepted++;
process.stdout.write(`${JSON.stringify({ accepted })}\n`);
process.stdin.on('end', () => { for (const c of conns) c.close(); process.exit(0); });
process.stdin.resume();
