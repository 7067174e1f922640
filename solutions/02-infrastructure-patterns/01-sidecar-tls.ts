// A TLS sidecar: terminates HTTPS in front of an unmodified plaintext app and streams everything through.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/01-sidecar-tls`.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

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

/** A raw header list minus hop-by-hop headers, including those the Connection header names. */
function endToEnd(rawHeaders: readonly string[]): string[] {
  const drop = new Set(HOP_BY_HOP);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    // Connection: a, b names more headers that belong to this hop only.
    if (rawHeaders[i]!.toLowerCase() === 'connection') for (const t of rawHeaders[i + 1]!.split(',')) drop.add(t.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (!drop.has(rawHeaders[i]!.toLowerCase())) out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  return out;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startTlsSidecar(o: SidecarOptions): Promise<Sidecar> {
  const mutual = o.requireClientCert === true;
  // Our own pool of upstream connections, so that close() can destroy them (the global agent is shared).
  const agent = new http.Agent({ keepAlive: true });
  const upstreamTimeoutMs = o.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    // End-to-end headers only; the client's own X-Forwarded-Proto is dropped (it could lie about the scheme).
    const raw = endToEnd(req.rawHeaders);
    const pairs: string[] = [];
    let xff: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (name === 'x-forwarded-proto') continue;
      if (name === 'x-forwarded-for') {
        xff = xff === undefined ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
        continue;
      }
      pairs.push(raw[i]!, raw[i + 1]!);
    }
    // The app learns what only the sidecar knows: the scheme was https, and who the client is (appended).
    const client = req.socket.remoteAddress ?? 'unknown';
    pairs.push('X-Forwarded-Proto', 'https', 'X-Forwarded-For', xff === undefined ? client : `${xff}, ${client}`);
    // Transfer-Encoding is hop-by-hop, but a chunked body still needs framing on our hop: Node's client does
    // not chunk GET, DELETE or OPTIONS bodies by default and would send them unframed.
    if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined) pairs.push('Transfer-Encoding', 'chunked');

    const upReq = http.request({ host: o.upstream.host, port: o.upstream.port, method: req.method, path: req.url, headers: pairs, agent });
    // Silence from the app (nothing read or written on its connection) for upstreamTimeoutMs: give up on it.
    let timedOut = false;
    upReq.setTimeout(upstreamTimeoutMs, () => {
      timedOut = true;
      upReq.destroy(new Error(`the app sent nothing for ${upstreamTimeoutMs} ms`));
    });
    upReq.on('response', (upRes) => {
      // Status and end-to-end headers as the app sent them; Node frames the body for our client.
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEnd(upRes.rawHeaders));
      // Streaming: each chunk goes out as it arrives, so a slow or huge response never sits in memory.
      upRes.pipe(res);
      // The app died mid-response: cut our client's connection too, so it sees the body is incomplete.
      upRes.on('close', () => {
        if (!upRes.complete) res.destroy();
      });
    });
    upReq.on('error', () => {
      if (!res.headersSent) {
        // Nothing sent yet: say so, 504 when the app was too slow, 502 when it is down or hung up on us.
        const status = timedOut ? 504 : 502;
        res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
        res.end(timedOut ? `504 gateway timeout: the app sent nothing for ${upstreamTimeoutMs} ms\n` : '502 bad gateway: the app behind this sidecar did not answer\n');
      } else res.destroy(); // half a response: cut the connection so the client sees it is incomplete
    });
    // The client went away before the response finished: drop the upstream request too, or its socket leaks.
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    // Streaming the other way: the request body goes upstream as it arrives.
    req.pipe(upReq);
  };

  const server = https.createServer(
    {
      key: o.key,
      cert: o.cert,
      minVersion: o.minVersion ?? 'TLSv1.2',
      // Mutual TLS: ask for a certificate and let OpenSSL refuse the handshake unless it chains to clientCa.
      ...(mutual ? { requestCert: true, rejectUnauthorized: true, ...(o.clientCa !== undefined ? { ca: o.clientCa } : {}) } : {}),
      handshakeTimeout: 5_000,
    },
    forward,
  );
  // A time-out on every client connection: a stalled client cannot hold a socket forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());

  let redirector: http.Server | undefined;
  let tlsPort = 0;
  try {
    tlsPort = await listen(server, o.listenPort);
    let redirectPort: number | undefined;
    if (o.redirectHttpPort !== undefined) {
      redirector = http.createServer((req, res) => {
        req.resume();
        // Keep the host name the client used, but always point at our TLS port, never at a port from the request.
        const host = (req.headers.host ?? '127.0.0.1').replace(/:\d+$/, '');
        res.writeHead(301, { location: `https://${host}:${tlsPort}${req.url ?? '/'}`, 'content-length': '0' });
        res.end();
      });
      redirector.headersTimeout = 10_000;
      redirector.requestTimeout = 10_000;
      redirectPort = await listen(redirector, o.redirectHttpPort);
    }
    const close = async () => {
      const closing = [server, ...(redirector ? [redirector] : [])].map((s) => new Promise<void>((r) => s.close(() => r())));
      server.closeAllConnections();
      redirector?.closeAllConnections();
      agent.destroy();
      await Promise.all(closing);
    };
    return redirectPort === undefined ? { port: tlsPort, close } : { port: tlsPort, redirectPort, close };
  } catch (e) {
    server.close();
    redirector?.close();
    agent.destroy();
    throw e;
  }
}
