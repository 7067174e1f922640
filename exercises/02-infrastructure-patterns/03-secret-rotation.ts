// Rotating credentials without downtime: a TLS server whose certificate and trusted client CAs change
// while it runs, and an API-key set that accepts the old key for an overlap window.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/03-secret-rotation`.
// Try it for real: `npx dlab run 02-infrastructure-patterns/03-secret-rotation`.
import type { IncomingMessage, ServerResponse } from 'node:http';

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

/** Starts an HTTPS server on 127.0.0.1 that serves o.handler and can change its credentials while running. */
export async function startRotatingTlsServer(o: RotatingServerOptions): Promise<RotatingServer> {
  // TODO: https.createServer({ key, cert, ... }, o.handler) on 127.0.0.1:o.port; with clientCas also
  //       { ca, requestCert: true, rejectUnauthorized: true }.
  // TODO: rotate and setTrustedClientCAs change what new handshakes use, without touching the listener
  //       or the open connections (the lesson names the one method that does this).
  throw new Error(`TODO: implement startRotatingTlsServer (port ${o.port})`);
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
 * Keeps `server` serving the key and certificate of the Secret volume mounted at `dir` (files CERT_FILE and
 * KEY_FILE, updated the way the kubelet updates them: see the lesson). Resolves once the pair in the volume
 * now is installed; after that, every update of the volume is installed within 1 s. A pair whose key does
 * not match its certificate is not installed: the server keeps serving the current one.
 */
export async function watchSecretVolume(dir: string, server: Pick<RotatingServer, 'rotate'>): Promise<SecretWatch> {
  // TODO: read both files and rotate to them now; then call the same reload on every change of the volume,
  //       as the kubelet makes it (the lesson says which path changes, and which never does).
  // TODO: close() stops for good: nothing may keep the process alive or rotate afterwards.
  throw new Error(`TODO: implement watchSecretVolume(${dir}) (server ${typeof server.rotate})`);
}

// ---------------------------------------------------------------------------------------------------
// API keys

/**
 * API keys (or HMAC secrets) with rotation. One secret is current; every secret that a rotation replaced
 * stays valid until its own deadline (`now + overlapMs` at the rotation that last replaced it); a revoked
 * secret is never valid again, even if it is issued again. Times are milliseconds on one clock, never decreasing.
 */
export class CredentialSet {
  constructor(initial: string) {
    // TODO: remember the initial secret as the current one (and delete the next line).
    void initial;
  }

  /** Whether `token` is a valid secret at time `now`. */
  accept(token: string, now: number): boolean {
    // TODO: revoked → false; current → true; replaced → true while now < its deadline.
    throw new Error(`TODO: implement CredentialSet.accept (${token.length}-character token at t=${now})`);
  }

  /** `newSecret` becomes current; the old current secret stays valid while `now < at + overlapMs`. */
  rotate(newSecret: string, now: number, overlapMs: number): void {
    // TODO: keep the old current secret with its deadline (and every earlier one still inside its window).
    throw new Error(`TODO: implement CredentialSet.rotate (t=${now}, overlap ${overlapMs} ms, ${newSecret.length} characters)`);
  }

  /** `secret` is never accepted again, whether current or retiring. */
  revoke(secret: string): void {
    // TODO: remember it; accept must check this first.
    throw new Error(`TODO: implement CredentialSet.revoke (${secret.length} characters)`);
  }
}
