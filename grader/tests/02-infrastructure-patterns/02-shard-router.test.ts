// Hidden tests for 02-infrastructure-patterns/02-shard-router: an HTTP router in front of toy KV shards,
// judged by what clients get back and by which shard each request reached (the shards' hit logs).
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkAsyncProperty, holds, violated } from '@dlab/harness';
import { httpCall, leakGuard, partitionOf, startKvShard, waitFor, within, type HttpReply, type KvShard } from '@dlab/harness/net';
import { startShardRouter, type ShardMap, type ShardRouter } from '@impl/02-infrastructure-patterns/02-shard-router';

let shards: KvShard[] = [];
const leaks = leakGuard('02.2 shard-router');
const routers: ShardRouter[] = [];

beforeAll(async () => {
  leaks.start();
  shards = await Promise.all(['shard-a', 'shard-b', 'shard-c', 'shard-d'].map((n) => startKvShard(n)));
});

const closeQuietly = (r: ShardRouter) => within(r.close(), 2000, 'close() did not resolve within 2 s').catch(() => undefined);

afterEach(async () => {
  await Promise.all(routers.splice(0).map(closeQuietly));
});

afterAll(async () => {
  await Promise.all(routers.splice(0).map(closeQuietly));
  await Promise.all(shards.map((s) => s.close()));
  await leaks.final();
});

/** The file's last test: close everything and check that nothing stays open. */
async function closeAndCheck(): Promise<void> {
  resetShards(8);
  const r = await router({ version: 1, partitions: 8, owner: Array.from({ length: 8 }, (_, p) => shards[p % 4]!.url) });
  // Some traffic to every shard, so the router holds connections it must release.
  await put(r.port, 'cleanup', 'x');
  await httpCall({ port: r.port, path: '/scan?prefix=' });
  await Promise.all(routers.splice(0).map((r) => within(r.close(), 2000, 'close() did not resolve within 2 s')));
  // Upstream socket counters: a closed router keeps no connection to any shard.
  if (!(await waitFor(() => shards.every((s) => s.openSockets() === 0), 1000))) {
    violated(
      'close() releases every socket the router opened, including idle keep-alive connections to the shards',
      'start routers, send the requests of this test file, then close() them',
      `1 s after close() resolved the shards still had ${shards.map((s) => `${s.name}: ${s.openSockets()}`).join(', ')} open connection(s). ` +
        'Use your own http.Agent for shard requests and destroy it in close().',
    );
  }
  await Promise.all(shards.map((s) => s.close()));
  await leaks.check();
}

async function router(map: ShardMap, scatterTimeoutMs = 1000): Promise<ShardRouter> {
  const r = await startShardRouter({ port: 0, map, scatterTimeoutMs });
  routers.push(r);
  return r;
}

function resetShards(partitions: number): void {
  for (const s of shards) {
    s.reset();
    s.partitions = partitions;
  }
}

const kvPath = (key: string) => `/kv/${encodeURIComponent(key)}`;
const nameOf = (url: string) => shards.find((s) => s.url === url)?.name ?? url;
const hitCount = () => shards.map((s) => s.hits.length);

function put(port: number, key: string, value: string, timeoutMs = 3000): Promise<HttpReply> {
  return httpCall({ port, method: 'PUT', path: kvPath(key), body: value, headers: { 'content-length': String(Buffer.byteLength(value)) }, timeoutMs });
}

interface ScanBody {
  items?: Array<{ key: string; value: string }>;
  partial?: boolean;
}

/** A scan's items as comparable text: key and value of each, in order (field order inside an item does not matter). */
function pairs(items: ScanBody['items']): string {
  return JSON.stringify(Array.isArray(items) ? items.map((i) => [i?.key, i?.value]) : items);
}

function parseScan(r: HttpReply): ScanBody {
  try {
    return JSON.parse(r.body.toString('utf8')) as ScanBody;
  } catch {
    return {};
  }
}

// ---------------------------------------------------------------------------------------------------

type Op = { readonly op: 'put'; readonly key: string; readonly value: string } | { readonly op: 'get' | 'del'; readonly key: string } | { readonly op: 'scan'; readonly prefix: string };

const KEYS = ['a', 'b', 'ab', 'user:1', 'user:2', 'user:10', 'café', 'a/b', 'x y', '100%', 'ключ'];
const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 10 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('scan' as const), prefix: fc.constantFrom('', 'a', 'user:', 'x', 'zz') }) },
);
const PARTS = 16;
const ownersArb = fc.array(fc.integer({ min: 0, max: 2 }), { minLength: PARTS, maxLength: PARTS });

function showOp(o: Op): string {
  return o.op === 'scan' ? `GET /scan?prefix=${encodeURIComponent(o.prefix)}` : o.op === 'put' ? `PUT ${kvPath(o.key)} ${JSON.stringify(o.value)}` : `${o.op === 'get' ? 'GET' : 'DELETE'} ${kvPath(o.key)}`;
}

describe('shard router', () => {
  it('behaves like one key-value store, and sends each key to exactly the shard that owns its partition', async () => {
    await checkAsyncProperty(
      'through the router, any sequence of PUT/GET/DELETE/scan gives the answers of a single key-value store; ' +
        'each single-key request reaches exactly one shard, the owner of partitionOf(key) in the map, once',
      [ownersArb, fc.array(opArb, { minLength: 1, maxLength: 14 })],
      async (owners, ops) => {
        resetShards(PARTS);
        const map: ShardMap = { version: 1, partitions: PARTS, owner: owners.map((i) => shards[i]!.url) };
        const r = await startShardRouter({ port: 0, map, scatterTimeoutMs: 1000 });
        const model = new Map<string, string>();
        try {
          for (const [i, o] of ops.entries()) {
            const step = `step ${i + 1}, ${showOp(o)}`;
            const before = hitCount();
            if (o.op === 'scan') {
              const res = await httpCall({ port: r.port, path: `/scan?prefix=${encodeURIComponent(o.prefix)}` });
              const want = [...model.entries()].filter(([k]) => k.startsWith(o.prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => ({ key, value }));
              const body = parseScan(res);
              if (res.status !== 200 || body.partial === true || pairs(body.items) !== pairs(want)) {
                throw new Error(`${step}: expected 200 {"items":${JSON.stringify(want)}}, got ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
              }
              continue;
            }
            let res: HttpReply;
            if (o.op === 'put') {
              res = await put(r.port, o.key, o.value);
              if (res.status < 200 || res.status > 299) throw new Error(`${step}: expected a 2xx, got ${res.status}`);
              model.set(o.key, o.value);
            } else if (o.op === 'del') {
              res = await httpCall({ port: r.port, method: 'DELETE', path: kvPath(o.key) });
              if (res.status < 200 || res.status > 299) throw new Error(`${step}: expected a 2xx, got ${res.status}`);
              model.delete(o.key);
            } else {
              res = await httpCall({ port: r.port, path: kvPath(o.key) });
              const want = model.get(o.key);
              const got = res.body.toString('utf8');
              if (want === undefined ? res.status !== 404 : res.status !== 200 || got !== want) {
                throw new Error(`${step}: expected ${want === undefined ? '404' : `200 ${JSON.stringify(want)}`}, got ${res.status} ${JSON.stringify(got.slice(0, 100))}`);
              }
            }
            const p = partitionOf(o.key, PARTS);
            const owner = map.owner[p]!;
            const deltas = shards.map((s, j) => ({ s, d: s.hits.length - before[j]! })).filter((x) => x.d > 0);
            const total = deltas.reduce((n, x) => n + x.d, 0);
            if (total !== 1 || deltas[0]!.s.url !== owner) {
              const reached = deltas.map((x) => (x.d > 1 ? `${x.s.name} (${x.d} times)` : x.s.name)).join(', ') || 'no shard';
              throw new Error(`${step}: key ${JSON.stringify(o.key)} is in partition ${p}, owned by ${nameOf(owner)} in the map; the request reached ${reached}`);
            }
          }
        } finally {
          await r.close();
        }
      },
      {
        seed: 202,
        numRuns: 25,
        examples: [
          // shard-a owns partitions 0..7, shard-b 8..14, shard-c 15: no "hash mod 3" can match this table.
          [[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2], [{ op: 'put', key: 'user:1', value: 'x' }, { op: 'put', key: 'café', value: 'y' }, { op: 'get', key: 'user:1' }, { op: 'scan', prefix: '' }]],
        ],
      },
    );
  });

  it('installs newer maps at once and ignores older ones', async () => {
    resetShards(64);
    const [a, b, c] = shards as [KvShard, KvShard, KvShard];
    const all = (s: KvShard, version: number): ShardMap => ({ version, partitions: 64, owner: Array.from({ length: 64 }, () => s.url) });
    const r = await router(all(a, 1));
    const where = async (key: string) => {
      await put(r.port, key, 'v');
      return shards.find((s) => s.hits.some((h) => h.key === key))?.name ?? 'no shard';
    };
    holds((await where('k1')) === a.name, 'the router routes by the map it was started with', 'map v1 sends every partition to shard-a; PUT /kv/k1', () => 'it went elsewhere');
    r.updateMap(all(b, 3));
    const second = await where('k2');
    holds(second === b.name, 'a newer map takes effect for the next request', 'map v1 (all → shard-a), then updateMap(v3: all → shard-b); PUT /kv/k2', () => `PUT /kv/k2 reached ${second}`);
    r.updateMap(all(c, 2));
    const third = await where('k3');
    holds(third === b.name, 'updateMap with an older version than the current map is ignored (maps can arrive out of order)', 'updateMap(v3: all → shard-b), then updateMap(v2: all → shard-c); PUT /kv/k3', () =>
      `PUT /kv/k3 reached ${third}: the router went back to map version 2 after version 3`,
    );
  });

  it('a scan that misses a shard says so (503 or partial: true), and never passes off a partial result', async () => {
    resetShards(64);
    const map: ShardMap = { version: 1, partitions: 64, owner: Array.from({ length: 64 }, (_, p) => shards[p % 3]!.url) };
    const r = await router(map, 150);
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9'];
    for (const k of keys) await put(r.port, k, `v-${k}`);
    const silent = shards[2]!;
    const lost = keys.filter((k) => map.owner[partitionOf(k, 64)] === silent.url);
    silent.hangScans = true;
    const t0 = Date.now();
    const res = await httpCall({ port: r.port, path: '/scan?prefix=k', timeoutMs: 3000 });
    const ms = Date.now() - t0;
    const body = parseScan(res);
    const example = `keys k0..k9 spread over 3 shards; ${silent.name} (holding ${lost.join(', ')}) never answers scans; scatterTimeoutMs = 150; GET /scan?prefix=k`;
    holds(res.status === 503 || (res.status === 200 && body.partial === true), 'a scan that did not hear from every shard answers 503, or 200 with "partial": true; never a silent partial result', example, () =>
      `the router answered ${res.status} with ${body.items?.length ?? 0} of ${keys.length} items and no "partial": true, so the client cannot know that ${lost.join(', ')} are missing`,
    );
    holds(ms < 1500, 'a scan answers soon after scatterTimeoutMs, even if a shard never does', example, () => `the answer took ${ms} ms`);
    const released = await waitFor(() => silent.inFlight() === 0, 1000);
    holds(released, 'a request that timed out is abandoned: the router closes it instead of leaving it open', example, () =>
      `1 s after the answer, ${silent.name} still had ${silent.inFlight()} scan request(s) open from the router`,
    );
  });

  it('a scan returns, for each key, what GET of that key returns (copies left behind by a move are ignored)', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    const key = 'moved-key';
    const p = partitionOf(key, 8);
    // After a move, shard-a still holds an old copy; the map (v2) says shard-b owns the partition.
    a.data.set(key, 'stale copy');
    b.data.set(key, 'current');
    a.data.set('other', 'x');
    const owner = Array.from({ length: 8 }, () => a.url);
    owner[p] = b.url;
    const map: ShardMap = { version: 2, partitions: 8, owner };
    const r = await router(map);
    const res = await httpCall({ port: r.port, path: '/scan?prefix=' });
    const items = parseScan(res).items ?? [];
    const want = [{ key, value: 'current' }, ...(partitionOf('other', 8) === p ? [] : [{ key: 'other', value: 'x' }])];
    holds(res.status === 200 && pairs(items) === pairs(want), 'a scan returns each key once, sorted, with the value held by the owner of its partition', `shard-a holds ${key} = "stale copy" and other = "x"; the map gives ${key}'s partition ${p} to shard-b, which holds "current"; GET /scan?prefix=`, () =>
      `got ${res.status} ${JSON.stringify(items)}, expected ${JSON.stringify(want)}`,
    );
  });

  it('during a partition move, follows the 421 redirect once: no acknowledged PUT is lost or applied twice', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    let n = 0;
    a.jitter = () => (n++ * 7) % 6; // answers in a shuffled order
    const r = await router({ version: 1, partitions: 8, owner: Array.from({ length: 8 }, () => a.url) });
    const acked = new Map<string, string>();
    const doPut = async (key: string, value: string) => {
      const res = await put(r.port, key, value).catch((e: Error) => e);
      if (res instanceof Error || res.status < 200 || res.status > 299) {
        violated('during a move the router follows the shard\'s 421 redirect, so writes keep succeeding', 'map v1 sends all 8 partitions to shard-a; while PUTs are in flight, shard-a hands every partition to shard-b (answering 421 {owner: shard-b, version: 2})', `PUT ${kvPath(key)} failed: ${res instanceof Error ? res.message : `status ${res.status}`}`);
      }
      acked.set(key, value);
    };
    for (let i = 0; i < 10; i++) await doPut(`move:${i}`, `v1-${i}`);
    const wave = [...Array.from({ length: 10 }, (_, i) => doPut(`move:${i}`, `v2-${i}`)), ...Array.from({ length: 10 }, (_, i) => doPut(`move:${10 + i}`, `v1-${10 + i}`))];
    await new Promise((res) => setTimeout(res, 4));
    // The move, in one synchronous step: copy shard-a's data to shard-b, then shard-a redirects.
    for (const [k, v] of a.data) b.data.set(k, v);
    for (let p = 0; p < 8; p++) a.moved.set(p, { owner: b.url, version: 2 });
    await Promise.all(wave);
    r.updateMap({ version: 2, partitions: 8, owner: Array.from({ length: 8 }, () => b.url) });
    for (let i = 20; i < 25; i++) await doPut(`move:${i}`, `v1-${i}`);
    const example = '10 PUTs, then 20 concurrent PUTs (10 overwrite) during which shard-a hands all partitions to shard-b, then updateMap(v2), then 5 more PUTs';
    for (const [key, value] of acked) {
      const applied = shards.flatMap((s) => s.hits.filter((h) => h.applied && h.key === key && h.value === value).map(() => s.name));
      holds(applied.length === 1, 'every acknowledged PUT is applied exactly once', example, () => `PUT ${kvPath(key)} = "${value}" was applied ${applied.length} times (${applied.join(', ') || 'nowhere'})`);
      const got = await httpCall({ port: r.port, path: kvPath(key) });
      holds(got.status === 200 && got.body.toString() === value, 'no acknowledged PUT is lost across a partition move', example, () => `GET ${kvPath(key)} after the move returned ${got.status} ${JSON.stringify(got.body.toString())}, expected "${value}"`);
    }
  });

  it('does not loop when two shards redirect to each other', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    const r = await router({ version: 1, partitions: 8, owner: Array.from({ length: 8 }, () => a.url) });
    for (let p = 0; p < 8; p++) {
      a.moved.set(p, { owner: b.url, version: 2 });
      b.moved.set(p, { owner: a.url, version: 2 });
    }
    const res = await httpCall({ port: r.port, method: 'PUT', path: kvPath('ping-pong'), body: 'x', timeoutMs: 2000 }).catch((e: Error) => e);
    const hits = a.hits.length + b.hits.length;
    holds(!(res instanceof Error) && (res.status === 421 || res.status >= 500) && hits <= 2, 'a 421 redirect is followed at most once; a second one is an error for the client', 'shard-a answers 421 → shard-b, shard-b answers 421 → shard-a; PUT /kv/ping-pong', () =>
      res instanceof Error ? `the request failed: ${res.message} (the shards saw ${hits} requests)` : `status ${res.status}; the shards saw ${hits} requests`,
    );
  });

  it('keeps 200 parallel requests apart, and spreads keys evenly over the partitions', async () => {
    resetShards(64);
    for (const [i, s] of shards.entries()) s.jitter = (k) => (k * 7 + i * 3) % 5;
    const map: ShardMap = { version: 1, partitions: 64, owner: Array.from({ length: 64 }, (_, p) => shards[p % 4]!.url) };
    const r = await router(map);
    const N = 200;
    const puts = await Promise.all(Array.from({ length: N }, (_, i) => put(r.port, `par:${i}`, `value-${i}`, 5000).catch((e: Error) => e)));
    puts.forEach((res, i) =>
      holds(!(res instanceof Error) && res.status >= 200 && res.status < 300, 'the router serves many clients at once', `${N} concurrent PUT /kv/par:<i>`, () => `PUT /kv/par:${i}: ${res instanceof Error ? res.message : `status ${res.status}`}`),
    );
    const gets = await Promise.all(Array.from({ length: N }, (_, i) => httpCall({ port: r.port, path: kvPath(`par:${i}`), timeoutMs: 5000 }).catch((e: Error) => e)));
    gets.forEach((res, i) =>
      holds(!(res instanceof Error) && res.status === 200 && res.body.toString() === `value-${i}`, 'each of many parallel requests gets its own answer, never another request\'s', `${N} concurrent GET /kv/par:<i> after the PUTs`, () =>
        `GET /kv/par:${i} got ${res instanceof Error ? res.message : `${res.status} ${JSON.stringify(res.body.toString())}`}, expected "value-${i}"`,
      ),
    );
    // With partitions dealt round-robin to 4 shards, the provided hash spreads keys evenly: chi-square, 3 d.f.
    const counts = shards.map((s) => s.hits.filter((h) => h.method === 'PUT').length);
    const chi = counts.reduce((x, c) => x + (c - N / 4) ** 2 / (N / 4), 0);
    holds(chi < 16.27, 'keys spread evenly over the shards (chi-square below the 0.1% critical value)', `${N} PUTs, 64 partitions dealt round-robin to 4 shards`, () => `PUTs per shard ${counts.join(', ')} (chi-square ${chi.toFixed(1)})`);
  });
});

describe('cleanup', () => {
  it('close() releases every socket, to clients and to shards, and the process holds no open handle', closeAndCheck);
});
