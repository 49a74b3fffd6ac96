#!/usr/bin/env node
// Speak to the daemon as the web front end would (tests run this under setpriv as the web
// user): send each request of the JSON array in argv[3] on one connection, in order, and
// print the replies as one JSON array.  This is how tests play a compromised front end.
import { FrameConn } from './frame.mjs';

const conn = await FrameConn.open(process.argv[2]);
const out = [];
let id = 1;
for (const req of JSON.parse(process.argv[3])) {
  const rep = await conn.call(req, { id: id++, timeoutMs: 15000 });
  out.push(rep ? rep.body : null);
}
conn.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
