/**
 * A throwaway certificate authority for TLS tests, made with the real `openssl` command (Debian
 * package "openssl"): a CA, a server certificate for 127.0.0.1/localhost, client certificates
 * whose CN is a device id, and a second, untrusted CA for forged client certificates.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram } from './system.js';

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** Client certificate and key signed by the CA, CN = `cn`. */
  client(cn: string): { cert: string; key: string };
  /** Client certificate and key signed by a CA the broker does not trust. */
  forged(cn: string): { cert: string; key: string };
}

export function makeTestPki(ctx: Mocha.Context): TestPki {
  const openssl = requireProgram(ctx, 'openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'vg-pki-'));
  const run = (...args: string[]): void => void execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  const key = (name: string): void => run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`);
  const ca = (name: string): void => {
    key(name);
    run('req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-days', '2', '-out', `${name}.crt`);
  };
  const sign = (name: string, cn: string, caName: string, ext?: string): void => {
    key(name);
    run('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`];
    if (ext) {
      writeFileSync(join(dir, `${name}.ext`), ext);
      args.push('-extfile', `${name}.ext`);
    }
    run(...args);
  };
  ca('test-ca');
  ca('rogue-ca');
  sign('server', '127.0.0.1', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  let n = 0;
  const issue = (caName: string) => (cn: string) => {
    const name = `client-${n++}`;
    sign(name, cn, caName, 'extendedKeyUsage=clientAuth\n');
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };
  return {
    dir,
    caCert: join(dir, 'test-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    client: issue('test-ca'),
    forged: issue('rogue-ca'),
  };
}
