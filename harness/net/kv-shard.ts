// The toy key-value shard of exercise 02.2, and the partition function every router must use.
//
// Shard API (plain HTTP on loopback):
//   GET /kv/<key>            200 with the value as the body, or 404
//   PUT /kv/<key>            body = the value; 204
//   DELETE /kv/<key>         204 (whether or not the key existed)
//   GET /scan?prefix=<p>     200 {"items":[{"key","value"},...]} sorted by key, only keys starting with p
// A shard told that a partition has moved answers 421 {"owner": <base URL>, "version": <n>} for its keys.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { listenTracked } from './tracked-server.ts';

const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/**
 * The partition of a key: FNV-1a over the key's UTF-8 bytes, mixed with the 64-bit MurmurHash3
 * finaliser (so that the low bits are as good as the high ones), modulo the number of partitions.
 * Routers and tests must agree on this function, so everyone imports it from here.
 */
export function partitionOf(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitionOf: partitions must be a positive integer, not ${partitions}`);
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(key, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK64;
  }
  h ^= h >> 33n;
  h = (h * 0xff51afd7ed558ccdn) & MASK64;
  h ^= h >> 33n;
  h = (h * 0xc4ceb9fe1a85ec53n) & MASK64;
  h ^= h >> 33n;
  return Number(h % BigInt(partitions));
}

/** One request a shard answered, for tests that check where requests went. */
export interface ShardHit {
  readonly method: string;
  /** The decoded key of a /kv/ request, or undefined for a scan. */
  readonly key?: string;
  /** The prefix of a scan. */
  readonly prefix?: string;
  /** The value a PUT carried. */
  readonly value?: string;
  /** The status answered (0: none, the shard hangs on this key). */
  readonly status: number;
  /** Whether it changed the shard's data (a PUT or DELETE answered 204). */
  readonly applied: boolean;
}

export interface KvShard {
  readonly name: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: what a ShardMap lists as an owner. */
  readonly url: string;
  readonly data: Map<string, string>;
  readonly hits: ShardHit[];
  /** Partitions this shard no longer serves: it answers 421 with the new owner for their keys. */
  readonly moved: Map<number, { owner: string; version: number }>;
  /** Number of partitions, for deciding which keys `moved` covers (default 64). */
  partitions: number;
  /** Delay every answer by this many ms (0). */
  delayMs: number;
  /** A function of the request's sequence number giving an extra delay, for shuffling completion order. */
  jitter: ((n: number) => number) | undefined;
  /** Never answer scans (they stay open until close), to test scatter time-outs. */
  hangScans: boolean;
  /** Never answer single-key requests for these keys (recorded with status 0), to test request time-outs. */
  readonly hangKeys: Set<string>;
  /** Called with every request the shard answers (for `dlab run`'s log). */
  onHit: ((h: ShardHit) => void) | undefined;
  openSockets(): number;
  inFlight(): number;
  /** Forgets data, hits, moves and behaviour settings. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts one toy shard on 127.0.0.1 and a free port. */
export async function startKvShard(name: string): Promise<KvShard> {
  const data = new Map<string, string>();
  const hits: ShardHit[] = [];
  // Every recorded hit is also shown to onHit.
  const record = (h: ShardHit) => {
    hits.push(h);
    shard.onHit?.(h);
  };
  const moved = new Map<number, { owner: string; version: number }>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;

  const answer = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://shard.invalid');
    const method = req.method ?? 'GET';
    if (url.pathname === '/scan' && method === 'GET') {
      const prefix = url.searchParams.get('prefix') ?? '';
      record({ method, prefix, status: 200, applied: false });
      if (shard.hangScans) return; // stays open until the router gives up or the shard closes
      const items = [...data.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
      answer(res, 200, JSON.stringify({ items }), 'application/json');
      return;
    }
    if (!url.pathname.startsWith('/kv/')) {
      record({ method, status: 404, applied: false });
      answer(res, 404, JSON.stringify({ error: `no route ${method} ${url.pathname}` }), 'application/json');
      return;
    }
    let key: string;
    try {
      key = decodeURIComponent(url.pathname.slice(4));
    } catch {
      answer(res, 400, 'bad key encoding');
      return;
    }
    if (shard.hangKeys.has(key)) {
      record({ method, key, status: 0, applied: false });
      return; // stays open until the router gives up or the shard closes
    }
    const m = moved.get(partitionOf(key, shard.partitions));
    if (m !== undefined) {
      record({ method, key, status: 421, applied: false });
      answer(res, 421, JSON.stringify(m), 'application/json');
      return;
    }
    if (method === 'GET') {
      const v = data.get(key);
      record({ method, key, status: v === undefined ? 404 : 200, applied: false });
      if (v === undefined) answer(res, 404, 'not found');
      else answer(res, 200, v);
    } else if (method === 'PUT') {
      data.set(key, body);
      record({ method, key, value: body, status: 204, applied: true });
      res.writeHead(204).end();
    } else if (method === 'DELETE') {
      data.delete(key);
      record({ method, key, status: 204, applied: true });
      res.writeHead(204).end();
    } else {
      record({ method, key, status: 405, applied: false });
      answer(res, 405, 'method not allowed');
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const n = seq++;
      const wait = shard.delayMs + (shard.jitter?.(n) ?? 0);
      const run = () => handle(req, res, Buffer.concat(chunks).toString('utf8'));
      if (wait <= 0) run();
      else {
        const t = setTimeout(() => {
          timers.delete(t);
          run();
        }, wait);
        timers.add(t);
      }
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // Idle keep-alive connections stay open far longer than a test file runs, so that a proxy's pooled
  // connection is never closed by the server just as the proxy reuses it (a race no verdict should hang on).
  server.keepAliveTimeout = 120_000;
  const tracked = await listenTracked(server);
  const shard: KvShard = {
    name,
    port: tracked.port,
    url: `http://127.0.0.1:${tracked.port}`,
    data,
    hits,
    moved,
    partitions: 64,
    delayMs: 0,
    jitter: undefined,
    hangScans: false,
    hangKeys: new Set<string>(),
    onHit: undefined,
    openSockets: tracked.openSockets,
    inFlight: tracked.inFlight,
    reset() {
      data.clear();
      hits.length = 0;
      moved.clear();
      shard.delayMs = 0;
      shard.jitter = undefined;
      shard.hangScans = false;
      shard.hangKeys.clear();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await tracked.close();
    },
  };
  return shard;
}
