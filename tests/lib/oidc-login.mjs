// A scripted user login at the test OIDC server, without a browser: follow the authorize URL's
// redirects with a cookie jar, post the login form, and stop at the redirect back to flowgate.
import https from 'node:https';
import { readFileSync } from 'node:fs';

function request(url, { method = 'GET', headers = {}, body, ca }) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/**
 * Log user in at authorizeUrl; returns {code, state, url} of the redirect to returnPrefix (or
 * {error, url} when the server sends an error back).
 */
export async function scriptedLogin(authorizeUrl, user, password, { caFile, returnPrefix }) {
  const ca = readFileSync(caFile);
  const jar = new Map();
  let url = authorizeUrl;
  let form = null;
  for (let hop = 0; hop < 20; hop++) {
    const u = new URL(url);
    if (url.startsWith(returnPrefix)) {
      return { code: u.searchParams.get('code'), state: u.searchParams.get('state'), error: u.searchParams.get('error'), url };
    }
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    let body;
    if (form) {
      body = new URLSearchParams({ username: user, password }).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await request(url, { method: form ? 'POST' : 'GET', headers, body, ca });
    form = null;
    for (const c of [].concat(res.headers['set-cookie'] || [])) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      jar.set(kv.slice(0, i).trim(), kv.slice(i + 1).trim());
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.location, url).toString();
      continue;
    }
    const m = res.body.match(/<form id="kc-form-login" method="post" action="([^"]+)"/);
    if (res.status !== 200 || !m) throw new Error(`login stopped at ${url}: ${res.status} ${res.body.slice(0, 300)}`);
    url = new URL(m[1].replace(/&amp;/g, '&'), url).toString();
    form = true;
  }
  throw new Error('too many redirects during the login');
}

/**
 * Log user in to flowgate's app name through the real login routes (GET /login/APP, the OIDC
 * server's form, GET /callback); returns the end user's cookie, "fg_user=...".
 */
export async function userLogin(stack, name, user, password) {
  const cookies = (r) => [].concat(r.headers['set-cookie'] || []);
  const begin = await stack.http('GET', `/login/${name}`);
  if (begin.status !== 302) throw new Error(`GET /login/${name}: ${begin.status} ${begin.body}`);
  const state = cookies(begin).find((c) => c.startsWith('fg_login=')).split(';')[0].slice(9);
  const back = await scriptedLogin(begin.headers.location, user, password,
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  const cb = await stack.http('GET', `/callback${new URL(back.url).search}`, { headers: { cookie: `fg_login=${state}` } });
  if (cb.status !== 302) throw new Error(`GET /callback: ${cb.status} ${cb.body}`);
  return cookies(cb).find((c) => c.startsWith('fg_user=')).split(';')[0];
}
