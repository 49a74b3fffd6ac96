// A raw client for the daemon's wire protocol (common/fg-protocol.h), for protocol tests:
// 12-byte header (version, type, flags, id, length; big endian) + a JSON body.
import { connect } from 'node:net';

export const PROTO_VERSION = 3;
export const FRAME_REQUEST = 1;
export const FRAME_REPLY = 2;
export const FRAME_HDR_LEN = 12;
export const FRAME_MAX = 64 * 1024;

export function encodeFrame(body, { id = 1, version = PROTO_VERSION, type = FRAME_REQUEST, flags = 0, length } = {}) {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const hdr = Buffer.alloc(FRAME_HDR_LEN);
  hdr.writeUInt8(version, 0);
  hdr.writeUInt8(type, 1);
  hdr.writeUInt16BE(flags, 2);
  hdr.writeUInt32BE(id >>> 0, 4);
  hdr.writeUInt32BE((length ?? payload.length) >>> 0, 8);
  return Buffer.concat([hdr, payload]);
}

/** A connection that collects reply frames and notices when the daemon closes it. */
export class FrameConn {
  static open(path) {
    return new Promise((res, rej) => {
      const c = new FrameConn(path);
      c.sock.once('connect', () => res(c));
      c.sock.once('error', rej);
    });
  }

  constructor(path) {
    this.sock = connect(path);
    this.buf = Buffer.alloc(0);
    this.replies = [];
    this.waiters = [];
    this.closed = false;
    this.closedP = new Promise((r) => { this.sock.once('close', () => { this.closed = true; r(); this.flush(); }); });
    this.sock.on('error', () => {});
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= FRAME_HDR_LEN) {
        const len = this.buf.readUInt32BE(8);
        if (this.buf.length < FRAME_HDR_LEN + len) break;
        const hdr = { version: this.buf[0], type: this.buf[1], flags: this.buf.readUInt16BE(2), id: this.buf.readUInt32BE(4), len };
        const raw = this.buf.subarray(FRAME_HDR_LEN, FRAME_HDR_LEN + len);
        this.buf = this.buf.subarray(FRAME_HDR_LEN + len);
        let body;
        try { body = JSON.parse(raw.toString('utf8')); } catch { body = { unparsable: raw.toString('utf8') }; }
        this.replies.push({ hdr, body });
      }
      this.flush();
    });
  }

  flush() {
    while (this.waiters.length && (this.replies.length || this.closed)) {
      const w = this.waiters.shift();
      w(this.replies.length ? this.replies.shift() : null);
    }
  }

  send(buf) { this.sock.write(buf); }

  /** Next reply frame, or null if the daemon closed the connection first (or timeout). */
  next(timeoutMs = 5000) {
    return new Promise((res) => {
      const t = setTimeout(() => { const i = this.waiters.indexOf(w); if (i >= 0) this.waiters.splice(i, 1); res(undefined); }, timeoutMs);
      const w = (v) => { clearTimeout(t); res(v); };
      this.waiters.push(w);
      this.flush();
    });
  }

  async call(body, opts = {}) {
    this.send(encodeFrame(body, opts));
    return this.next(opts.timeoutMs);
  }

  /** Resolves true if the peer closes within timeoutMs. */
  async waitClosed(timeoutMs = 3000) {
    let t;
    const r = await Promise.race([this.closedP.then(() => true), new Promise((res) => { t = setTimeout(() => res(false), timeoutMs); })]);
    clearTimeout(t);
    return r;
  }

  close() { this.sock.destroy(); }
}
