// Throwaway TLS material for tests: a CA and a server certificate for 127.0.0.1 / localhost,
// made with the openssl CLI in a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function openssl(args, cwd) {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const msg = err.code === 'ENOENT'
      ? 'openssl not found (apt-get install openssl)'
      : `openssl ${args[0]} failed: ${err.stderr ? err.stderr.toString() : err.message}`;
    throw new Error(msg);
  }
}

/**
 * Make a CA and a server certificate signed by it.
 * @param {string} [dir] directory to write into (default: a new temp dir)
 * @returns {{dir:string, caCert:string, caKey:string, cert:string, key:string}} absolute paths
 */
export function makeTls(dir = mkdtempSync(join(tmpdir(), 'fg-tls-'))) {
  const ext = join(dir, 'server.ext');
  writeFileSync(ext, [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    // DNS:127.0.0.1 too: nginx 1.22's proxy_ssl_verify matches names only (X509_check_host)
    'subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:127.0.0.1',
    '',
  ].join('\n'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=flowgate test CA', '-keyout', 'ca.key', '-out', 'ca.crt',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-subj', '/CN=127.0.0.1',
    '-keyout', 'server.key', '-out', 'server.csr'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-sha256', '-extfile', 'server.ext', '-out', 'server.crt'], dir);
  // the directory and certificates must be readable by the daemon's user (it reads ca.crt)
  chmodSync(dir, 0o755);
  for (const f of ['ca.crt', 'server.crt']) chmodSync(join(dir, f), 0o644);
  for (const f of ['ca.key', 'server.key']) chmodSync(join(dir, f), 0o600);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
  };
}
