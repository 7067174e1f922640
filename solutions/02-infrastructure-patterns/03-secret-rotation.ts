// Rotating credentials without downtime: a TLS server whose certificate and trusted client CAs change
// while it runs, and an API-key set that accepts the old key for an overlap window.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/03-secret-rotation`.
import { createHash, timingSafeEqual } from 'node:crypto';
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

/** A server's private key and certificate chain, PEM. */
export interface ServerCredentials {
  readonly key: Buffer;
  readonly cert: Buffer;
}

export interface RotatingServerOptions extends ServerCredentials {
  /** The port to listen on, on 127.0.0.1 (0: any free port). */
  readonly port: number;
  /** If given, every client must present a certificate that chains to one of these CAs (mutual TLS). */
  readonly clientCas?: readonly Buffer[];
  /** The application: answers every request. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface RotatingServer {
  readonly port: number;
  /**
   * New connections get the new key and certificate from the moment this resolves; connections already
   * open keep theirs. Rejects, and changes nothing, if the key does not belong to the certificate.
   */
  rotate(next: ServerCredentials): Promise<void>;
  /** Replaces the CAs that client certificates must chain to (for new handshakes). */
  setTrustedClientCAs(cas: readonly Buffer[]): void;
  close(): Promise<void>;
}

export async function startRotatingTlsServer(o: RotatingServerOptions): Promise<RotatingServer> {
  const mutual = o.clientCas !== undefined;
  // Everything the TLS context is made of. setSecureContext replaces the whole context, so each change
  // must pass all of it again: forgetting `ca` here would silently stop trusting every client.
  let current: { key: Buffer; cert: Buffer; ca?: Buffer[] } = { key: o.key, cert: o.cert, ...(mutual ? { ca: [...o.clientCas!] } : {}) };

  const build = () => {
    const s = https.createServer({ ...current, ...(mutual ? { requestCert: true, rejectUnauthorized: true } : {}), handshakeTimeout: 5_000 }, o.handler);
    s.headersTimeout = 10_000;
    s.requestTimeout = 30_000;
    s.on('tlsClientError', (_e: Error, socket: tls.TLSSocket) => socket.destroy());
    return s;
  };
  const listen = (s: https.Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
  // One server for the whole run: rotation changes what it presents, never the server itself.
  const server = build();
  await listen(server, o.port);
  const port = (server.address() as AddressInfo).port;

  const install = (next: typeof current) => {
    // Build the context first: a key that does not match the certificate throws here, before anything changed.
    tls.createSecureContext(next);
    // The listening socket stays open; only handshakes that start from now on use the new context.
    server.setSecureContext(next);
    current = next;
  };

  return {
    port,
    async rotate(next) {
      install({ ...current, key: next.key, cert: next.cert });
    },
    setTrustedClientCAs(cas) {
      install({ ...current, ca: [...cas] });
    },
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Following a mounted Secret volume

/** The file names of a Kubernetes TLS Secret (type kubernetes.io/tls) in its mounted volume. */
export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

export interface SecretWatch {
  /** Stops watching: no rotation happens after this resolves. */
  close(): Promise<void>;
}

/**
 * Keeps `server` serving the key and certificate of the Secret volume mounted at `dir`. Resolves once the
 * pair in the volume now is installed; after that, every update of the volume is installed within 1 s.
 * A pair whose key does not match its certificate is not installed (the server keeps the current one).
 */
export async function watchSecretVolume(dir: string, server: Pick<RotatingServer, 'rotate'>): Promise<SecretWatch> {
  let closed = false;
  let installed: ServerCredentials | undefined;

  const reload = async () => {
    let next: ServerCredentials;
    try {
      // Through the visible names, so that the ..data symlink decides which version is read.
      next = { key: await readFile(join(dir, KEY_FILE)), cert: await readFile(join(dir, CERT_FILE)) };
    } catch {
      return; // a file missing for a moment: the change that completes it sends another event
    }
    if (closed || (installed !== undefined && next.key.equals(installed.key) && next.cert.equals(installed.cert))) return;
    try {
      await server.rotate(next);
      installed = next;
    } catch {
      // The two files came from different versions (a swap between the two reads), or the Secret holds a
      // key that does not belong to its certificate: keep serving the current pair. A swap sends another
      // event, so a torn read is repaired by the next reload.
    }
  };

  // One reload at a time; events that arrive during a reload ask for exactly one more afterwards.
  let running: Promise<void> | undefined;
  let again = false;
  const kick = () => {
    if (closed) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await reload();
      } while (again && !closed);
    })().finally(() => (running = undefined));
  };

  // Watch the directory, not the files: Kubernetes updates a volume by writing a new timestamped folder
  // and renaming a new `..data` symlink over the old one. tls.crt itself is a symlink that never changes;
  // a watch on the file it pointed to fires once when the old folder is deleted, then never again.
  const watcher = watch(dir, kick);
  watcher.on('error', () => undefined); // the volume went away: nothing left to follow
  kick();
  await running;
  return {
    async close() {
      closed = true;
      watcher.close();
      await running;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// API keys

/** The SHA-256 of a token: equal-length inputs for a constant-time comparison. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function same(a: Buffer, b: Buffer): boolean {
  // Constant time: a byte-by-byte early exit would tell an attacker how much of a guess was right.
  return timingSafeEqual(a, b);
}

/**
 * API keys (or HMAC secrets) with rotation. One secret is current; every secret that a rotation replaced
 * stays valid until its own deadline (`now + overlapMs` at the rotation that last replaced it); a revoked
 * secret is never valid again, even if it is issued again. Times are milliseconds on one clock, never decreasing.
 */
export class CredentialSet {
  private current: Buffer;
  private retiring: Array<{ secret: Buffer; until: number }> = [];
  private readonly revoked: Buffer[] = [];

  constructor(initial: string) {
    this.current = digest(initial);
  }

  /** Whether `token` is a valid secret at time `now`. */
  accept(token: string, now: number): boolean {
    const t = digest(token);
    // Revocation beats everything, including the overlap window: a leaked key must stop working now.
    if (this.revoked.some((r) => same(r, t))) return false;
    if (same(this.current, t)) return true;
    return this.retiring.some((r) => same(r.secret, t) && now < r.until);
  }

  /** `newSecret` becomes current; the old current secret stays valid while `now < at + overlapMs`. */
  rotate(newSecret: string, now: number, overlapMs: number): void {
    const old = this.current;
    // Forget secrets whose window has passed, but keep every one still inside its window: rotating twice
    // in quick succession must not cut off clients that have not picked up the previous secret yet.
    // A secret replaced before (issued again since) gets the window of this rotation, not the old one.
    this.retiring = this.retiring.filter((r) => now < r.until && !same(r.secret, old));
    this.retiring.push({ secret: old, until: now + overlapMs });
    this.current = digest(newSecret);
  }

  /** `secret` is never accepted again, whether current or retiring. */
  revoke(secret: string): void {
    this.revoked.push(digest(secret));
  }
}
