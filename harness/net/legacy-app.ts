// The "legacy app" of exercise 02.1: a plaintext HTTP service on loopback that nobody may rebuild.
// Its routes make a proxy's mistakes visible: an echo that mirrors the request, a slow drip, a front page,
// and the ways an app fails: it hangs, it trickles, it dies before or in the middle of its answer.
import { EventEmitter } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { patientTimeout } from '../patience.ts';
import { listenTracked } from './tracked-server.ts';

/** What the legacy app saw of one request. */
export interface LegacyRequest {
  /** The request's `x-test-id` header, or '' (tests tag requests to find them again). */
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
  /** The body received so far, in the chunks it came in (see bodyOf). */
  readonly chunks: Buffer[];
  /** Body bytes received so far. */
  bytes: number;
  /** Whether the whole body arrived. */
  complete: boolean;
  /** Whether the app's answer is still open: neither finished nor cut off by a closed connection. */
  open: boolean;
}

export interface LegacyApp {
  readonly port: number;
  /** Every request received, oldest first. */
  readonly log: LegacyRequest[];
  /** Requests received in total. */
  hits(): number;
  /** Connections open to the app right now (from a proxy in front of it, or directly). */
  openSockets(): number;
  /** Requests still being answered (a /drip waiting for release, a slow upload). */
  inFlight(): number;
  /** Resolves true once the request tagged `id` has delivered at least one body byte, false after `ms`. */
  waitForBody(id: string, ms: number): Promise<boolean>;
  /** Lets every /drip and /hang response that is waiting finish. */
  release(): void;
  close(): Promise<void>;
}

const PAGE = (proto: string, host: string) => `<!doctype html>
<html><head><title>Legacy inventory</title></head>
<body>
<h1>Legacy inventory app</h1>
<p>This app speaks plain HTTP and has not been rebuilt since 2009.</p>
<p>This request reached it as <b>${proto}</b> for host <b>${host}</b>.</p>
</body></html>
`;

/** The body of a logged request, as one buffer. */
export function bodyOf(r: LegacyRequest): Buffer {
  return Buffer.concat(r.chunks);
}

const DRIP_SAFETY_MS = 10_000;
/** Body bytes /die promises (its Content-Length with ?cl=1) and the bytes it sends before dying. */
const DIE_PROMISED = 1000;
const DIE_SENT = 400;

/** Starts the legacy app on 127.0.0.1 and a free port (or `port`); `onRequest` sees each request as it arrives. */
export async function startLegacyApp(opts: { port?: number; onRequest?: (r: LegacyRequest) => void } = {}): Promise<LegacyApp> {
  const log: LegacyRequest[] = [];
  const events = new EventEmitter();
  const drips = new Set<() => void>();
  /**
   * Parks a response until release() or close() (or a safety timer) runs `answer` on it, once; a client that
   * goes away first takes it off the list.
   */
  const hold = (res: ServerResponse, answer: () => void): void => {
    let done = false;
    const settle = (run: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(safety);
      drips.delete(finish);
      if (run && !res.destroyed) answer();
    };
    const finish = () => settle(true);
    const safety = setTimeout(finish, DRIP_SAFETY_MS);
    drips.add(finish);
    res.once('close', () => settle(false));
  };
  let hits = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    hits++;
    const id = typeof req.headers['x-test-id'] === 'string' ? req.headers['x-test-id'] : '';
    const entry: LegacyRequest = { id, method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders, headers: req.headers, chunks: [], bytes: 0, complete: false, open: true };
    log.push(entry);
    res.once('close', () => (entry.open = false));
    opts.onRequest?.(entry);
    req.on('data', (d: Buffer) => {
      const first = entry.bytes === 0;
      entry.chunks.push(d);
      entry.bytes += d.length;
      if (first) events.emit('body', id);
    });
    req.on('end', () => (entry.complete = true));
    const url = new URL(req.url ?? '/', 'http://legacy.invalid');

    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      const proto = String(req.headers['x-forwarded-proto'] ?? 'http (direct, not through the sidecar)');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : PAGE(proto, String(req.headers.host ?? '?')));
      return;
    }

    if (url.pathname === '/drip') {
      // Sends a first chunk at once and the rest only when the test calls release().
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n');
      hold(res, () => res.end('rest of the response\n'));
      return;
    }

    if (url.pathname === '/hang') {
      // Accepts the request and never answers (until release() or close()): an app that is stuck.
      req.resume();
      hold(res, () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('released\n');
      });
      return;
    }

    if (url.pathname === '/trickle') {
      // A slow but steady answer: ?n= chunks ("chunk 0\n", ...), one every ?gap= ms, then the end.
      req.resume();
      const n = Math.min(100, Math.max(1, Number(url.searchParams.get('n') ?? 5) || 5));
      const gap = Math.min(2000, Math.max(1, Number(url.searchParams.get('gap') ?? 100) || 100));
      res.writeHead(200, { 'content-type': 'text/plain' });
      let i = 0;
      res.write(`chunk ${i++}\n`);
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        if (i < n) res.write(`chunk ${i++}\n`);
        else {
          clearInterval(timer);
          res.end();
        }
      }, gap);
      res.once('close', () => clearInterval(timer));
      return;
    }

    if (url.pathname === '/die') {
      // The app crashes: ?when=head closes the connection before answering; otherwise it sends the head and
      // DIE_SENT of the body's bytes (DIE_PROMISED promised by Content-Length with ?cl=1, chunked without)
      // and then its connection dies, without the rest and without the chunked terminator.
      req.resume();
      const socket = req.socket;
      if (url.searchParams.get('when') === 'head') {
        req.on('end', () => socket.destroy());
        return;
      }
      const headers: string[] = ['content-type', 'application/octet-stream'];
      if (url.searchParams.get('cl') === '1') headers.push('content-length', String(DIE_PROMISED));
      res.writeHead(200, headers);
      res.write(Buffer.alloc(DIE_SENT, 0x61), () => setTimeout(() => socket.destroy(), 20));
      return;
    }

    if (url.pathname.startsWith('/echo')) {
      // Mirrors the request: status from ?status=, request headers x-test-* as x-echo-*, the body as the body.
      const status = Math.min(599, Math.max(200, Number(url.searchParams.get('status') ?? 200) || 200));
      const headers: string[] = ['content-type', 'application/octet-stream', 'x-legacy-method', entry.method, 'x-legacy-url', entry.url];
      headers.push('set-cookie', 'a=1; Path=/', 'set-cookie', 'b=2; Path=/');
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase();
        if (name.startsWith('x-test-') && name !== 'x-test-id') headers.push(`x-echo-${name.slice(7)}`, req.rawHeaders[i + 1]!);
      }
      if (status >= 300 && status < 400) headers.push('location', '/moved');
      // Hop-by-hop headers of the app's own, named by two Connection lines: a proxy must pass on neither.
      if (url.searchParams.get('hop') === '1') headers.push('connection', 'x-legacy-hop', 'x-legacy-hop', 'for the next hop only', 'connection', 'x-legacy-hop2', 'x-legacy-hop2', 'this one too');
      const noBody = req.method === 'HEAD' || status === 204 || status === 304;
      if (noBody) {
        req.resume();
        req.on('end', () => {
          res.writeHead(status, headers);
          res.end();
        });
      } else if (url.searchParams.get('cl') === '1') {
        // With a content-length: the whole body first.
        const chunks: Buffer[] = [];
        req.on('data', (d: Buffer) => chunks.push(d));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(status, [...headers, 'content-length', String(body.length)]);
          res.end(body);
        });
      } else {
        // Chunked, streamed back as it arrives.
        res.writeHead(status, headers);
        req.pipe(res);
      }
      return;
    }

    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no route ${url.pathname}\n`);
  };

  const server = http.createServer(handle);
  // The legacy app is not under test: generous time-outs, but time-outs all the same.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // Idle keep-alive connections stay open far longer than a test file runs, so that a proxy's pooled
  // connection is never closed by the server just as the proxy reuses it (a race no verdict should hang on).
  server.keepAliveTimeout = 120_000;
  const tracked = await listenTracked(server, opts.port ?? 0);
  return {
    port: tracked.port,
    log,
    hits: () => hits,
    openSockets: tracked.openSockets,
    inFlight: tracked.inFlight,
    waitForBody(id, ms) {
      if (log.some((e) => e.id === id && e.bytes > 0)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const onBody = (got: string) => {
          if (got !== id) return;
          cancel();
          events.off('body', onBody);
          resolve(true);
        };
        const cancel = patientTimeout(ms, () => {
          events.off('body', onBody);
          resolve(false);
        });
        events.on('body', onBody);
      });
    },
    release() {
      for (const f of [...drips]) f();
    },
    async close() {
      for (const f of [...drips]) f();
      await tracked.close();
    },
  };
}
