// A shard router (Burns's "ambassador"): one HTTP endpoint in front of many key-value shards.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/02-shard-router`.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { partitionOf } from '@dlab/harness/net';

/** Which shard owns which partition. Keys map to partitions with partitionOf; partitions never change owner silently. */
export interface ShardMap {
  /** Increases with every change; a router never goes back to an older map. */
  readonly version: number;
  readonly partitions: number;
  /** owner[p] is the base URL (`http://127.0.0.1:<port>`) of the shard that holds partition p. */
  readonly owner: readonly string[];
}

export interface RouterOptions {
  /** The port to listen on, on 127.0.0.1 (0: any free port). */
  readonly port: number;
  readonly map: ShardMap;
  /** How long a scan waits for each shard before answering without it (503, or 200 with "partial": true). */
  readonly scatterTimeoutMs: number;
  /**
   * How long a single-key request waits for a shard before the router answers 504. The grader always sets it;
   * without it, choose a default of your own (the reference: 5 s).
   */
  readonly requestTimeoutMs?: number;
}

export interface ShardRouter {
  readonly port: number;
  /** Installs a newer map; a map whose version is not higher than the current one is ignored. */
  updateMap(m: ShardMap): void;
  /** Stops listening and releases every socket the router opened, including idle connections to shards. */
  close(): Promise<void>;
}

/** What a shard answered. */
interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body: Buffer;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_BODY = 1 << 20;

export async function startShardRouter(o: RouterOptions): Promise<ShardRouter> {
  let map = o.map;
  const requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // One pool for all shard connections, so close() can end them.
  const agent = new http.Agent({ keepAlive: true });

  /** One request to one shard, with a deadline that destroys the request (and its socket) when it passes. */
  const ask = (base: string, method: string, path: string, body: Buffer | undefined, timeoutMs: number) =>
    new Promise<Answer>((resolve, reject) => {
      const url = new URL(path, base);
      const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, agent, headers: body === undefined ? {} : { 'content-length': String(body.length) } });
      const timer = setTimeout(() => req.destroy(new Error(`${base} did not answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, type: res.headers['content-type'] ?? 'text/plain', body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });

  const reply = (res: ServerResponse, status: number, body: string | Buffer, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };

  const single = async (res: ServerResponse, method: string, key: string, body: Buffer | undefined) => {
    // Read the map once: the whole request is routed by one version of it.
    const m = map;
    const path = `/kv/${encodeURIComponent(key)}`;
    let a = await ask(m.owner[partitionOf(key, m.partitions)]!, method, path, body, requestTimeoutMs);
    if (a.status === 421) {
      // The shard knows better than our map: the partition moved. Follow once; a second 421 means the
      // shards disagree with each other, and looping would make it worse.
      const to = JSON.parse(a.body.toString('utf8')) as { owner?: unknown };
      if (typeof to.owner !== 'string') return reply(res, 502, JSON.stringify({ error: 'a shard answered 421 without an owner' }));
      a = await ask(to.owner, method, path, body, requestTimeoutMs);
      if (a.status === 421) return reply(res, 502, JSON.stringify({ error: `redirected twice for key ${JSON.stringify(key)}` }));
    }
    if (a.status === 204) return void res.writeHead(204).end();
    reply(res, a.status, a.body, a.type);
  };

  const scan = async (res: ServerResponse, prefix: string) => {
    const m = map;
    const shards = [...new Set(m.owner)];
    const results = await Promise.allSettled(shards.map((s) => ask(s, 'GET', `/scan?prefix=${encodeURIComponent(prefix)}`, undefined, o.scatterTimeoutMs)));
    const merged = new Map<string, string>();
    const missing: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'rejected' || r.value.status !== 200) return void missing.push(shards[i]!);
      const { items } = JSON.parse(r.value.body.toString('utf8')) as { items: Array<{ key: string; value: string }> };
      // Keep only keys this shard owns under the map: a copy left behind by a move is not the truth.
      for (const it of items) if (m.owner[partitionOf(it.key, m.partitions)] === shards[i]) merged.set(it.key, it.value);
    });
    // Never pass a partial answer off as complete: the caller cannot tell what is missing.
    if (missing.length > 0) return reply(res, 503, JSON.stringify({ error: `no answer from ${missing.length} shard(s) within ${o.scatterTimeoutMs} ms`, missing }));
    const items = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
    reply(res, 200, JSON.stringify({ items }));
  };

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) chunks.push(d);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://router.invalid');
      const method = req.method ?? 'GET';
      const body = Buffer.concat(chunks);
      const run = async () => {
        if (size > MAX_BODY) return reply(res, 413, JSON.stringify({ error: 'body too large' }));
        if (url.pathname === '/scan' && method === 'GET') return scan(res, url.searchParams.get('prefix') ?? '');
        if (url.pathname.startsWith('/kv/') && url.pathname.length > 4) {
          // Hash the key the client meant, not its URL encoding.
          let key: string;
          try {
            key = decodeURIComponent(url.pathname.slice(4));
          } catch {
            return reply(res, 400, JSON.stringify({ error: 'the key is not valid percent-encoding' }));
          }
          if (method === 'GET' || method === 'DELETE') return single(res, method, key, undefined);
          if (method === 'PUT') return single(res, method, key, body);
          return reply(res, 405, JSON.stringify({ error: `${method} is not supported` }));
        }
        reply(res, 404, JSON.stringify({ error: `no route ${url.pathname}` }));
      };
      run().catch((e: Error) => {
        // A shard that did not answer in time: 504 Gateway Timeout; one that refused or hung up: 502 Bad Gateway.
        if (!res.headersSent) reply(res, /did not answer/.test(e.message) ? 504 : 502, JSON.stringify({ error: e.message }));
        else res.destroy();
      });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    updateMap(next) {
      // Maps can arrive out of order (two pushes, a slow poll); only ever move forward.
      if (next.version > map.version) map = next;
    },
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
