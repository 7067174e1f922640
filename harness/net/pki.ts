// The course's test PKI, made offline with the `openssl` CLI into .dlab/pki/ (git-ignored) on first use.
//
// Two independent CAs, server certificates for localhost/127.0.0.1, client certificates, and the broken
// ones the chapter 02 tests need (a foreign-CA client, an expired client, a wrong-SAN server). Nothing is
// downloaded and verification is never switched off: tests trust CA-A (or CA-B) explicitly.
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bump when the set of files or their contents change, so old folders are regenerated. */
const PKI_VERSION = 2;
/** Regenerate when the long-lived certificates are this close to expiry. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;
const DAYS = 3650;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A private key and its certificate, both PEM. */
export interface KeyPair {
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** Where the PEM files are, for printing commands such as `curl --cacert ...`. */
export interface PkiPaths {
  readonly dir: string;
  readonly caA: string;
  readonly caB: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly clientBCert: string;
  readonly clientBKey: string;
}

export interface Pki {
  /** CA-A: signs the servers and the trusted clients. */
  readonly caA: Buffer;
  /** CA-B: an unrelated CA, for "a certificate from someone else" cases. */
  readonly caB: Buffer;
  /** Server certificates (CA-A) for DNS:localhost and IP:127.0.0.1, each with its own key and serial. */
  readonly server: KeyPair;
  readonly server2: KeyPair;
  readonly server3: KeyPair;
  /** A client certificate signed by CA-A. */
  readonly client: KeyPair;
  /** A client certificate signed by CA-B. */
  readonly clientB: KeyPair;
  /** A client certificate signed by CA-A that expired in 2020. */
  readonly expiredClient: KeyPair;
  /** A server certificate signed by CA-A for DNS:wrong.example only. */
  readonly wrongSan: KeyPair;
  readonly paths: PkiPaths;
}

/** The folder the PKI lives in: $DLAB_PKI_DIR, or .dlab/pki under the repo root. */
export function pkiDir(): string {
  return process.env['DLAB_PKI_DIR'] ?? join(REPO_ROOT, '.dlab', 'pki');
}

const CNF = `[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = placeholder
[ ca ]
default_ca = dlab
[ dlab ]
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ wrong_san ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

interface Manifest {
  readonly version: number;
  /** The earliest notAfter of the certificates meant to be valid (ms since the epoch). */
  readonly validUntil: number;
}

function usable(dir: string): boolean {
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    return m.version === PKI_VERSION && m.validUntil - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

function generate(dir: string): void {
  mkdirSync(join(dir, 'issued'), { recursive: true });
  writeFileSync(join(dir, 'openssl.cnf'), CNF);
  writeFileSync(join(dir, 'index.txt'), '');
  const ssl = (...args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OPENSSL_CONF: join(dir, 'openssl.cnf') } });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new Error(`making the test PKI failed: openssl ${args[0]} ${args.slice(1).join(' ')}\n${stderr || (e as Error).message}`);
    }
  };
  // EC P-256 keys: generating one takes about a millisecond.
  const newKey = (name: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const ca = (name: string, cn: string) => {
    newKey(name);
    ssl('req', '-config', 'openssl.cnf', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', String(DAYS), '-extensions', 'v3_ca', '-out', `${name}.pem`);
  };
  const leaf = (name: string, cn: string, caName: string, ext: string, serial: string, dates?: { start: string; end: string }) => {
    newKey(name);
    ssl('req', '-config', 'openssl.cnf', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`);
    writeFileSync(join(dir, 'serial'), serial + '\n');
    const validity = dates === undefined ? ['-days', String(DAYS)] : ['-startdate', dates.start, '-enddate', dates.end];
    ssl('ca', '-batch', '-config', 'openssl.cnf', '-cert', `${caName}.pem`, '-keyfile', `${caName}.key`, '-in', `${name}.csr`, '-out', `${name}.pem`, '-extensions', ext, '-notext', ...validity);
    rmSync(join(dir, `${name}.csr`));
  };
  ca('ca-a', 'dlab test CA-A');
  ca('ca-b', 'dlab test CA-B');
  leaf('server', 'localhost', 'ca-a', 'server', '1001');
  leaf('server-2', 'localhost', 'ca-a', 'server', '1002');
  leaf('server-3', 'localhost', 'ca-a', 'server', '1003');
  leaf('wrong-san', 'wrong.example', 'ca-a', 'wrong_san', '1004');
  leaf('client', 'dlab-client', 'ca-a', 'client', '2001');
  leaf('expired-client', 'dlab-expired-client', 'ca-a', 'client', '2002', { start: '20200101000000Z', end: '20200201000000Z' });
  leaf('client-b', 'dlab-client-b', 'ca-b', 'client', '3001');
  const validUntil = Math.min(
    ...['ca-a', 'ca-b', 'server', 'server-2', 'server-3', 'client', 'client-b'].map((n) => Date.parse(new X509Certificate(readFileSync(join(dir, `${n}.pem`))).validTo)),
  );
  // The CA's bookkeeping is only needed while signing.
  for (const f of ['index.txt', 'index.txt.attr', 'index.txt.old', 'index.txt.attr.old', 'serial', 'serial.old', 'issued']) rmSync(join(dir, f), { recursive: true, force: true });
  writeFileSync(join(dir, 'README.txt'), 'Test certificates made by harness/net/pki.ts for the chapter 02 exercises. Safe to delete; they are remade on use.\n');
  // Written last: a folder with a manifest is complete.
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ version: PKI_VERSION, validUntil } satisfies Manifest) + '\n');
}

/**
 * Makes the PKI if it is missing, stale or about to expire, and returns its folder. Safe when several
 * processes call it at once: each generates into its own temporary folder and renames it into place.
 */
export function ensurePki(dir: string = pkiDir()): string {
  if (usable(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    generate(tmp);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (usable(dir)) return dir; // another process finished first
      if (existsSync(dir)) {
        // A stale or broken folder: move it aside (atomic), then delete it.
        const old = `${dir}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
        try {
          renameSync(dir, old);
          rmSync(old, { recursive: true, force: true });
        } catch {
          /* someone else moved it; look again */
        }
      }
      try {
        mkdirSync(dirname(dir), { recursive: true });
        renameSync(tmp, dir);
        return dir;
      } catch {
        /* lost the race to another process: loop and use theirs */
      }
    }
    if (usable(dir)) return dir;
    throw new Error(`could not put the test PKI in place at ${dir}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

let cached: Pki | undefined;

/** The PKI as buffers (made first if needed), from `dir` (default: pkiDir()). */
export function loadPki(dir: string = pkiDir()): Pki {
  ensurePki(dir);
  if (cached !== undefined && cached.paths.dir === dir && usable(dir)) return cached;
  const read = (name: string) => readFileSync(join(dir, name));
  const pair = (name: string): KeyPair => ({ key: read(`${name}.key`), cert: read(`${name}.pem`) });
  cached = {
    caA: read('ca-a.pem'),
    caB: read('ca-b.pem'),
    server: pair('server'),
    server2: pair('server-2'),
    server3: pair('server-3'),
    client: pair('client'),
    clientB: pair('client-b'),
    expiredClient: pair('expired-client'),
    wrongSan: pair('wrong-san'),
    paths: {
      dir,
      caA: join(dir, 'ca-a.pem'),
      caB: join(dir, 'ca-b.pem'),
      serverCert: join(dir, 'server.pem'),
      serverKey: join(dir, 'server.key'),
      clientCert: join(dir, 'client.pem'),
      clientKey: join(dir, 'client.key'),
      clientBCert: join(dir, 'client-b.pem'),
      clientBKey: join(dir, 'client-b.key'),
    },
  };
  return cached;
}

/** The serial number of a PEM certificate, as Node's getPeerCertificate() spells it (upper-case hex). */
export function certSerial(cert: Buffer): string {
  return new X509Certificate(cert).serialNumber.toUpperCase();
}
