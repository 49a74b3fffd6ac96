// The relay page: CortiWebSocketProxyClient.transcribe through /ws/{connection}/transcribe on this
// origin, authenticated by the session cookie (no token in the page); sends a configuration, four
// chunks of a synthetic tone, a flush and the end, and lists every message the socket answers.
// ?connection=NAME picks the connection (default demo), ?app=NAME the login link's app.
import { CortiWebSocketProxyClient } from '@corti/sdk';

const params = new URLSearchParams(location.search);
const connection = params.get('connection') || 'demo';
const proxyUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/${encodeURIComponent(connection)}/transcribe`;
const log = document.querySelector('#log');
const status = document.querySelector('#status');
const start = document.querySelector('#start');
document.querySelector('#url').textContent = proxyUrl;
if (params.get('app')) document.querySelector('#login').href = `/login/${encodeURIComponent(params.get('app'))}`;

const CHUNKS = 4;
const SAMPLES = 4000;	// 250 ms of 16 kHz 16-bit mono

/** Show one line; the page's state is in body[data-state] for whoever watches. */
function show(kind, text) {
  const li = document.createElement('li');
  li.className = kind;
  li.textContent = text;
  log.append(li);
}
function state(s) {
  status.textContent = s;
  document.body.dataset.state = s;
}

/** Chunk i of a rising tone (440 Hz, then a third higher each chunk), as PCM bytes. */
function tone(i) {
  const pcm = new Int16Array(SAMPLES);
  const hz = 440 * (1 + i / 3);
  for (let k = 0; k < SAMPLES; k++) pcm[k] = Math.round(8000 * Math.sin((2 * Math.PI * hz * k) / 16000));
  return pcm.buffer;
}

async function run() {
  start.disabled = true;
  log.replaceChildren();
  state('connecting');
  let socket;
  try {
    socket = await CortiWebSocketProxyClient.transcribe.connect({
      proxy: { url: proxyUrl }, configuration: { primaryLanguage: 'en' }, reconnectAttempts: 0,
    });
  } catch (err) {
    show('refused', `the relay refused the socket (${err.message || 'closed'}): log in first`);
    state('refused');
    start.disabled = false;
    return;
  }
  show('config', 'CONFIG_ACCEPTED: the configuration went through');
  state('streaming');
  socket.on('message', (m) => {
    if (m.type === 'transcript') show('transcript', `transcript: ${m.data.text}`);
    else show(m.type, JSON.stringify(m));
    if (m.type === 'ended') { socket.close(); state('done'); start.disabled = false; }
    if (m.type === 'error') state('error');
  });
  for (let i = 0; i < CHUNKS; i++) socket.sendAudio(tone(i));
  socket.sendFlush({ type: 'flush' });
  socket.sendEnd({ type: 'end' });
}

start.addEventListener('click', () => { run().catch((err) => { show('error', String(err)); state('error'); }); });
state('idle');
