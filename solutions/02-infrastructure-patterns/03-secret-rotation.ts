// Rotating credentials without downtime: a TLS server whose certificate and trusted client CAs change
// while it runs, and an API-key set that accepts the old key for an overlap window.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/03-secret-rotation`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
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
 * stays valid until its own deadline (`now + overlapMs` at that rotation); a revoked secret is never
 * valid again. Times are milliseconds on one clock, never decreasing.
 */
export class CredentialSet {
  private current: Buffer | undefined;
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
    if (this.current !== undefined && same(this.current, t)) return true;
    return this.retiring.some((r) => same(r.secret, t) && now < r.until);
  }

  /** `newSecret` becomes current; the old current secret stays valid while `now < at + overlapMs`. */
  rotate(newSecret: string, now: number, overlapMs: number): void {
    // Forget secrets whose window has passed, but keep every one still inside its window: rotating twice
    // in quick succession must not cut off clients that have not picked up the previous secret yet.
    this.retiring = this.retiring.filter((r) => now < r.until);
    if (this.current !== undefined) this.retiring.push({ secret: this.current, until: now + overlapMs });
    this.current = digest(newSecret);
  }

  /** `secret` is never accepted again, whether current or retiring. */
  revoke(secret: string): void {
    this.revoked.push(digest(secret));
  }
}
