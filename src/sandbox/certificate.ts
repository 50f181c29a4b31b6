import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface Certificate {
  certFile: string;
  cert: string;
  key: string;
}

function covers(pem: string, host: string): boolean {
  const cert = new X509Certificate(pem);
  if (new Date(cert.validTo).getTime() < Date.now() + 24 * 3600_000) return false;
  return (isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined;
}

/**
 * The sandbox's self-signed certificate, made on first start and kept in `dir` so clients
 * trust it once (NODE_EXTRA_CA_CERTS). It is made again when it does not cover `host`.
 */
export async function sandboxCertificate(dir: string, host: string): Promise<Certificate> {
  const certFile = join(dir, 'sandbox-cert.pem');
  const keyFile = join(dir, 'sandbox-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    if (covers(cert, host)) return { certFile, cert, key: readFileSync(keyFile, 'utf8') };
  }
  const names = [...new Set(['localhost', '127.0.0.1', '::1', host].filter((h) => h !== '0.0.0.0' && h !== '::'))];
  const notAfterDate = new Date();
  notAfterDate.setFullYear(notAfterDate.getFullYear() + 5);
  const pems = await generate([{ name: 'commonName', value: 'b2b-etl sandbox portal' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate,
    extensions: [
      // a CA certificate, so Node accepts it as its own trust anchor from NODE_EXTRA_CA_CERTS
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) },
    ],
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert);
  return { certFile, cert: pems.cert, key: pems.private };
}
