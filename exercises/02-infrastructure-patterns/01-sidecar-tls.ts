// A TLS sidecar: terminates HTTPS in front of an unmodified plaintext app and streams everything through.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/01-sidecar-tls`.
// Try it for real: `npx dlab run 02-infrastructure-patterns/01-sidecar-tls`, then curl the port it prints.
export interface SidecarOptions {
  /** The TLS port to listen on, on 127.0.0.1 (0: any free port). */
  readonly listenPort: number;
  /** The legacy app, plaintext HTTP on loopback. */
  readonly upstream: { readonly host: '127.0.0.1'; readonly port: number };
  /** The server's private key and certificate (PEM). */
  readonly key: Buffer;
  readonly cert: Buffer;
  /** With requireClientCert: the CA that client certificates must chain to (mutual TLS). */
  readonly clientCa?: Buffer;
  readonly requireClientCert?: boolean;
  /** If set, also listen for plain HTTP on this port (0: any) and answer every request with a 301 to https. */
  readonly redirectHttpPort?: number;
  /** The oldest TLS version to accept (default TLSv1.2). */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /**
   * How long the app may stay silent, in ms: no byte of its answer for this long and the sidecar gives up
   * (504 before the response head, a cut client connection after it). The grader always sets it; without
   * it, use a generous default of your own (the reference waits 30 s).
   */
  readonly upstreamTimeoutMs?: number;
}

export interface Sidecar {
  /** The TLS port actually bound. */
  readonly port: number;
  /** The plain-HTTP redirect port actually bound, when redirectHttpPort was given. */
  readonly redirectPort?: number;
  /** Stops listening and releases every socket the sidecar opened (client side and upstream side). */
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and must not be forwarded. */
export const HOP_BY_HOP: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/**
 * Starts the sidecar on 127.0.0.1: an HTTPS server whose every request is forwarded to the upstream app.
 *
 * - Forward method, target (`req.url`), end-to-end headers (keep Host) and the body, as a stream.
 * - Add `X-Forwarded-Proto: https` (replacing any the client sent) and append the client's address to
 *   `X-Forwarded-For`.
 * - Pass the app's status, end-to-end headers and body back, as a stream.
 * - Drop hop-by-hop headers both ways: HOP_BY_HOP and every header any Connection line names. A header on
 *   several lines may be forwarded line by line or combined into one (values joined by ", ", in order);
 *   Set-Cookie never combined.
 * - The app is down or hangs up before answering: 502. The app is silent for upstreamTimeoutMs: 504 before the
 *   response head; after it, cut the client's connection. The app dies mid-response: cut the client's
 *   connection too (a short body must never look complete). The client hangs up: destroy the upstream request.
 * - requireClientCert: verify client certificates against clientCa during the handshake.
 * - redirectHttpPort: a plain HTTP server answering 301 to `https://<host>:<tls port><same target>`.
 * - close(): stop both servers, close their connections, and destroy your upstream connections.
 */
export async function startTlsSidecar(o: SidecarOptions): Promise<Sidecar> {
  // TODO: create the TLS server with https.createServer (import https from 'node:https')({ key, cert, minVersion, ... }, handler) and listen
  //       on o.listenPort at 127.0.0.1.
  // TODO: in the handler, forward the request with http.request({ host, port, method, path, headers, agent })
  //       using an http.Agent of your own (so close() can destroy it), and pipe bodies both ways.
  throw new Error(`TODO: implement startTlsSidecar (upstream port ${o.upstream.port})`);
}
