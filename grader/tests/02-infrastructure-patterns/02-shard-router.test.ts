// Hidden tests for 02-infrastructure-patterns/02-shard-router: an HTTP router in front of toy KV shards,
// judged by what clients get back and by which shard each request reached (the shards' hit logs).
// Order: the API settles; the model check; map versions; every failure mode of the lesson (a shard down, a
// shard hanging on a key, a shard silent on scans, moves, shards that disagree); sizes and load; cleanup.
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkAsyncProperty, holds, mark, patientElapsedMs, violated } from '@dlab/harness';
import { callFails, freePort, httpCall, leakGuard, openCall, partitionOf, startKvShard, settleWithin, waitFor, within, type HttpCall, type HttpReply, type KvShard } from '@dlab/harness/net';
import { startShardRouter, type RouterOptions, type ShardMap, type ShardRouter } from '@impl/02-infrastructure-patterns/02-shard-router';

let shards: KvShard[] = [];
const leaks = leakGuard('02.2 shard-router');
const routers: ShardRouter[] = [];

/** The request time-out of every router except the one that measures it: far above any shard's answer. */
const GENEROUS_MS = 5000;
/** The single-key time-out the hung-shard scenario measures (the lesson states it). */
const KEY_TIMEOUT_MS = 250;
/** The scatter time-out the silent-shard scenario measures (the lesson states it). */
const SCATTER_MS = 400;
/**
 * How much later than SCATTER_MS the scan may answer (CPU waits not counted). Below 2 × SCATTER_MS, so that a
 * router that asks the three silent shards one after another (3 × SCATTER_MS) is caught.
 */
const SCAN_SLACK_MS = 600;
/** A shard that answers scans this late is still in time (far below SCATTER_MS). */
const SLOW_MS = 50;
/** How long an API promise may take to settle before the test says which one did not. */
const SETTLE_MS = 2000;

const SETTLES = 'every promise the router returns settles: startShardRouter() once it listens, close() once everything is closed';

class NotSettled extends Error {}

/** Awaits a promise from the router's API; one that hangs or rejects fails with its name, not a runner time-out. */
async function settles<T>(p: Promise<T>, call: string): Promise<T> {
  const r = await settleWithin(p, SETTLE_MS);
  if (r.kind === 'rejected') throw new NotSettled(`${call} rejected: ${(r.error as Error).message}`);
  if (r.kind === 'hung') throw new NotSettled(`${call} did not resolve within ${SETTLE_MS / 1000} s`);
  return r.value;
}

/** settles(), failing the test at once with the settle property. */
async function mustSettle<T>(p: Promise<T>, call: string): Promise<T> {
  try {
    return await settles(p, call);
  } catch (e) {
    if (e instanceof NotSettled) violated(SETTLES, call, e.message);
    throw e;
  }
}

const showMap = (m: ShardMap) => `map v${m.version}, ${m.partitions} partitions`;
const showStart = (o: RouterOptions) => `startShardRouter({ port: 0, ${showMap(o.map)}, scatterTimeoutMs: ${o.scatterTimeoutMs}${o.requestTimeoutMs !== undefined ? `, requestTimeoutMs: ${o.requestTimeoutMs}` : ''} })`;

beforeAll(async () => {
  leaks.start();
  shards = await Promise.all(['shard-a', 'shard-b', 'shard-c', 'shard-d'].map((n) => startKvShard(n)));
});

const closeQuietly = (r: ShardRouter) => within(r.close(), SETTLE_MS, 'close() did not resolve').catch(() => undefined);

afterEach(async () => {
  // Every close() is held to the settle rule, not only the ones the tests call themselves.
  const closing = await Promise.allSettled(routers.splice(0).map((r) => mustSettle(r.close(), 'close() of a router started in this test')));
  const hung = closing.find((r) => r.status === 'rejected');
  if (hung !== undefined) throw hung.reason;
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
  for (const x of routers.splice(0)) await mustSettle(x.close(), 'close() after routing requests');
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

async function router(map: ShardMap, scatterTimeoutMs = 1000, requestTimeoutMs = GENEROUS_MS): Promise<ShardRouter> {
  const o: RouterOptions = { port: 0, map, scatterTimeoutMs, requestTimeoutMs };
  const r = await mustSettle(startShardRouter(o), showStart(o));
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
const allTo = (s: KvShard, version: number, partitions = 64): ShardMap => ({ version, partitions, owner: Array.from({ length: partitions }, () => s.url) });

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

/** One call, timed: patient milliseconds (waits for a CPU not counted) for upper bounds, wall for lower ones. */
async function timed(c: HttpCall): Promise<{ r: Awaited<ReturnType<typeof callFails>>; ms: number; wallMs: number }> {
  const m = mark();
  const t0 = performance.now();
  const r = await callFails(c);
  return { r, ms: patientElapsedMs(m), wallMs: performance.now() - t0 };
}

const outcome = (r: Awaited<ReturnType<typeof callFails>>) => (r.failed ? `the request failed: ${r.error.message}` : `${r.reply.status} ${JSON.stringify(r.reply.body.toString('utf8').slice(0, 120))}`);

// ---------------------------------------------------------------------------------------------------

type Op = { readonly op: 'put'; readonly key: string; readonly value: string } | { readonly op: 'get' | 'del'; readonly key: string } | { readonly op: 'scan'; readonly prefix: string };

// With 16 partitions: b and user:3 share partition 0 (the first), user:99 is in partition 15 (the last),
// ab and x y share partition 4, user:10 and a/b share partition 12. Keys are decoded before hashing.
const KEYS = ['a', 'b', 'ab', 'user:1', 'user:2', 'user:3', 'user:10', 'user:99', 'café', 'a/b', 'x y', '100%', 'ключ'];
const keyArb = fc.constantFrom(...KEYS);
const valueArb = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('', 'a,b', ' spaced '));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('scan' as const), prefix: fc.constantFrom('', 'a', 'user:', 'user:1', 'x', 'zz') }) },
);
const PARTS = 16;
const ownersArb = fc.array(fc.integer({ min: 0, max: 2 }), { minLength: PARTS, maxLength: PARTS });

function showOp(o: Op): string {
  return o.op === 'scan' ? `GET /scan?prefix=${encodeURIComponent(o.prefix)}` : o.op === 'put' ? `PUT ${kvPath(o.key)} ${JSON.stringify(o.value)}` : `${o.op === 'get' ? 'GET' : 'DELETE'} ${kvPath(o.key)}`;
}

describe('shard router', () => {
  it('startShardRouter() resolves once it listens, and close() resolves and stops listening', async () => {
    resetShards(8);
    const o: RouterOptions = { port: 0, map: allTo(shards[0]!, 1, 8), scatterTimeoutMs: 1000, requestTimeoutMs: GENEROUS_MS };
    const r = await mustSettle(startShardRouter(o), showStart(o));
    let closed = false;
    try {
      holds(Number.isInteger(r.port) && r.port > 0, 'startShardRouter() resolves with the port it listens on', showStart(o), () => `port is ${String(r.port)}`);
      const res = await callFails({ port: r.port, path: kvPath('nothing-here') });
      holds(!res.failed && res.reply.status === 404, 'once startShardRouter() has resolved, the router serves requests', `GET /kv/nothing-here right after ${showStart(o)} resolved`, () => outcome(res));
      await mustSettle(r.close(), 'close()');
      closed = true;
      const after = await callFails({ port: r.port, path: kvPath('nothing-here'), timeoutMs: 1000 });
      holds(after.failed, 'once close() has resolved, the router no longer accepts connections', 'GET /kv/nothing-here after close() resolved', () => `the request was answered: ${outcome(after)}`);
    } finally {
      if (!closed) routers.push(r);
    }
  });

  it('behaves like one key-value store, and sends each key to exactly the shard that owns its partition', async () => {
    let fatal: Error | undefined;
    await checkAsyncProperty(
      'through the router, any sequence of PUT/GET/DELETE/scan gives the answers of a single key-value store; ' +
        'each single-key request reaches exactly one shard, the owner of partitionOf(key) in the map, once',
      [ownersArb, fc.array(opArb, { minLength: 1, maxLength: 14 })],
      async (owners, ops) => {
        if (fatal !== undefined) return;
        resetShards(PARTS);
        const map: ShardMap = { version: 1, partitions: PARTS, owner: owners.map((i) => shards[i]!.url) };
        const opts: RouterOptions = { port: 0, map, scatterTimeoutMs: 1000, requestTimeoutMs: GENEROUS_MS };
        let r: ShardRouter;
        try {
          r = await settles(startShardRouter(opts), showStart(opts));
        } catch (e) {
          // Not a property of this input: stop here rather than shrink (each try would wait again).
          if (e instanceof NotSettled) return void (fatal = e);
          throw e;
        }
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
          try {
            await settles(r.close(), 'close()');
          } catch (e) {
            if (!(e instanceof NotSettled)) throw e;
            fatal = e;
          }
        }
      },
      {
        seed: 202,
        numRuns: 25,
        // Below the 5 s of CPU a test may use: a failing run stops shrinking in time to report its counterexample.
        budgetMs: 4000,
        examples: [
          // shard-a owns partitions 0..7, shard-b 8..14, shard-c 15: no "hash mod 3" can match this table.
          // b and user:3 share partition 0, user:99 is alone in the last one; an empty value; the same key twice.
          [
            [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2],
            [
              { op: 'put', key: 'user:1', value: 'x' },
              { op: 'put', key: 'café', value: 'y' },
              { op: 'put', key: 'user:99', value: '' },
              { op: 'get', key: 'user:99' },
              { op: 'put', key: 'b', value: 'first' },
              { op: 'put', key: 'user:3', value: 'a,b' },
              { op: 'put', key: 'b', value: 'second' },
              { op: 'get', key: 'b' },
              { op: 'scan', prefix: '' },
            ],
          ],
          // Keys that need percent-encoding; a delete, then a read of the deleted key.
          [
            [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2],
            [
              { op: 'put', key: 'x y', value: 'space' },
              { op: 'put', key: '100%', value: 'percent' },
              { op: 'put', key: 'a/b', value: 'slash' },
              { op: 'put', key: 'ключ', value: 'cyrillic' },
              { op: 'del', key: 'x y' },
              { op: 'get', key: 'x y' },
              { op: 'scan', prefix: 'a' },
            ],
          ],
        ],
      },
    );
    if (fatal !== undefined) violated(SETTLES, 'startShardRouter() and close() in the model check', fatal.message);
  });

  it('installs newer maps at once and ignores older ones', async () => {
    resetShards(64);
    const [a, b, c] = shards as [KvShard, KvShard, KvShard];
    const r = await router(allTo(a, 1));
    const where = async (key: string) => {
      await put(r.port, key, 'v');
      return shards.find((s) => s.hits.some((h) => h.key === key))?.name ?? 'no shard';
    };
    holds((await where('k1')) === a.name, 'the router routes by the map it was started with', 'map v1 sends every partition to shard-a; PUT /kv/k1', () => 'it went elsewhere');
    r.updateMap(allTo(b, 3));
    const second = await where('k2');
    holds(second === b.name, 'a newer map takes effect for the next request', 'map v1 (all → shard-a), then updateMap(v3: all → shard-b); PUT /kv/k2', () => `PUT /kv/k2 reached ${second}`);
    r.updateMap(allTo(c, 2));
    const third = await where('k3');
    holds(third === b.name, 'updateMap with an older version than the current map is ignored (maps can arrive out of order)', 'updateMap(v3: all → shard-b), then updateMap(v2: all → shard-c); PUT /kv/k3', () =>
      `PUT /kv/k3 reached ${third}: the router went back to map version 2 after version 3`,
    );
    r.updateMap(allTo(c, 3));
    const fourth = await where('k4');
    holds(fourth === b.name, 'updateMap with the same version as the current map is ignored (versions only grow)', 'updateMap(v3: all → shard-b), then another updateMap(v3: all → shard-c); PUT /kv/k4', () =>
      `PUT /kv/k4 reached ${fourth}: a map must have a higher version to replace the current one`,
    );
  });

  it('a shard that is down: 502 within 1 s for its keys, and a scan that says it is incomplete', async () => {
    resetShards(8);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const owner = Array.from({ length: 8 }, (_, p) => (p % 2 === 0 ? shards[0]!.url : dead));
    const r = await router({ version: 1, partitions: 8, owner });
    const key = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].find((k) => owner[partitionOf(k, 8)] === dead)!;
    const example = `map v1, 8 partitions: the even ones on shard-a, the odd ones on ${dead}, where nothing listens`;
    const get = await timed({ port: r.port, path: kvPath(key), timeoutMs: 2500 });
    holds(!get.r.failed && get.r.reply.status === 502 && get.ms < 1000, "a request for a key whose shard refuses connections gets a 502 within 1 s", `${example}; GET ${kvPath(key)}`, () =>
      `${outcome(get.r)} after ${Math.round(get.wallMs)} ms`,
    );
    const scan = await timed({ port: r.port, path: '/scan?prefix=', timeoutMs: 2500 });
    const body = scan.r.failed ? {} : parseScan(scan.r.reply);
    holds(!scan.r.failed && (scan.r.reply.status === 503 || (scan.r.reply.status === 200 && body.partial === true)) && scan.ms < 1000, 'a scan that could not reach every shard answers 503 or "partial": true, within 1 s when a shard refuses', `${example}; GET /scan?prefix=`, () =>
      `${outcome(scan.r)} after ${Math.round(scan.wallMs)} ms`,
    );
  });

  it('a request stuck on one shard holds up no other request, on that shard or any other', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    const owner = Array.from({ length: 8 }, (_, p) => (p < 4 ? a.url : b.url));
    // The stuck request's own deadline is far away: it must still be waiting when the others are done.
    const r = await router({ version: 1, partitions: 8, owner }, 1000, 8000);
    const key = 'stuck';
    const holder = owner[partitionOf(key, 8)] === a.url ? a : b;
    holder.hangKeys.add(key);
    const stuck = openCall({ port: r.port, path: kvPath(key), timeoutMs: 8000 });
    stuck.req.end();
    let answered = false;
    stuck.response.then(
      () => (answered = true),
      () => (answered = true),
    );
    try {
      const arrived = await waitFor(() => holder.hits.some((h) => h.key === key), 1500);
      holds(arrived, 'the router forwards a single-key request to the owner', `GET ${kvPath(key)}`, () => `1.5 s later ${holder.name} had not received it`);
      const others = Array.from({ length: 40 }, (_, i) => `free:${i}`);
      const same = others.filter((k) => owner[partitionOf(k, 8)] === holder.url).slice(0, 6);
      const elsewhere = others.filter((k) => owner[partitionOf(k, 8)] !== holder.url).slice(0, 6);
      const example = `${holder.name} never answers GET ${kvPath(key)}; while that request waits (requestTimeoutMs: 8000), PUT then GET ${same.length} other keys on ${holder.name} and ${elsewhere.length} on the other shard, all at once`;
      const results = await Promise.all(
        [...same, ...elsewhere].map(async (k) => {
          const p = await callFails({ port: r.port, method: 'PUT', path: kvPath(k), body: `v-${k}`, headers: { 'content-length': String(Buffer.byteLength(`v-${k}`)) }, timeoutMs: 2500 });
          if (p.failed || p.reply.status >= 300) return `PUT ${kvPath(k)}: ${outcome(p)}`;
          const g = await callFails({ port: r.port, path: kvPath(k), timeoutMs: 2500 });
          if (g.failed || g.reply.status !== 200 || g.reply.body.toString() !== `v-${k}`) return `GET ${kvPath(k)}: ${outcome(g)}`;
          return undefined;
        }),
      );
      const bad = results.filter((x) => x !== undefined);
      holds(bad.length === 0 && !answered, 'a request waiting on a stuck shard holds up no other request: other keys, on the same shard and on others, are served meanwhile', example, () =>
        bad.length > 0
          ? `${bad.length} of ${results.length} other requests were not served while ${key} waited, e.g. ${bad[0]} (one connection per shard, a queue, or a lock around shard requests?)`
          : `the stuck request was answered before the others finished`,
      );
    } finally {
      stuck.destroy();
    }
  });

  it(`a shard that hangs on one key: 504 after requestTimeoutMs (${KEY_TIMEOUT_MS} ms), and the request to it is abandoned`, async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    const owner = Array.from({ length: 8 }, (_, p) => (p < 4 ? a.url : b.url));
    const r = await router({ version: 1, partitions: 8, owner }, 1000, KEY_TIMEOUT_MS);
    const key = 'stuck';
    const holder = owner[partitionOf(key, 8)] === a.url ? a : b;
    holder.hangKeys.add(key);
    const example = `requestTimeoutMs: ${KEY_TIMEOUT_MS}; ${holder.name} owns ${JSON.stringify(key)} and never answers requests for it; GET ${kvPath(key)}`;
    const budget = KEY_TIMEOUT_MS + 1000;
    const t = await timed({ port: r.port, path: kvPath(key), timeoutMs: budget + 500 });
    holds(!t.r.failed && t.r.reply.status === 504, 'a single-key request whose shard does not answer within requestTimeoutMs gets a 504 Gateway Timeout', example, () =>
      t.r.failed ? `${t.r.error.message} after ${Math.round(t.wallMs)} ms: put a deadline of requestTimeoutMs on every shard request` : `${outcome(t.r)} after ${Math.round(t.wallMs)} ms`,
    );
    holds(t.wallMs >= KEY_TIMEOUT_MS * 0.95 && t.ms <= budget, 'the 504 comes after requestTimeoutMs, within 1 s more', example, () =>
      `the 504 came after ${Math.round(t.wallMs)} ms (${Math.round(t.ms)} ms not counting waits for a CPU); it must come between ${KEY_TIMEOUT_MS} and ${budget} ms`,
    );
    const released = await waitFor(() => holder.inFlight() === 0, 1000);
    holds(released, 'a shard request that timed out is abandoned: the router closes it', example, () => `1 s after the 504, ${holder.name} still had ${holder.inFlight()} request(s) open from the router`);
  });

  it(`a scan that misses a shard for scatterTimeoutMs (${SCATTER_MS} ms) says so (503 or partial: true), never a silent partial result`, async () => {
    resetShards(64);
    const map: ShardMap = { version: 1, partitions: 64, owner: Array.from({ length: 64 }, (_, p) => shards[p % 4]!.url) };
    const r = await router(map, SCATTER_MS);
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9'];
    for (const k of keys) await put(r.port, k, `v-${k}`);
    // A slow shard that answers well within the deadline is waited for.
    const slow = shards[2]!;
    slow.delayMs = SLOW_MS;
    const inTime = await httpCall({ port: r.port, path: '/scan?prefix=k', timeoutMs: 3000 });
    const all = keys.map((k) => ({ key: k, value: `v-${k}` }));
    holds(inTime.status === 200 && parseScan(inTime).partial !== true && pairs(parseScan(inTime).items) === pairs(all), 'a scan waits up to scatterTimeoutMs for every shard: a shard that answers in time is included', `keys k0..k9 over 4 shards; ${slow.name} answers after ${SLOW_MS} ms; scatterTimeoutMs = ${SCATTER_MS}; GET /scan?prefix=k`, () =>
      `got ${inTime.status} ${inTime.body.toString('utf8').slice(0, 300)}`,
    );
    slow.delayMs = 0;
    // Three of the four shards go silent: asked at once, the scan still gives up after one scatterTimeoutMs.
    const silents = shards.slice(1);
    const lost = keys.filter((k) => silents.some((x) => map.owner[partitionOf(k, 64)] === x.url));
    for (const x of silents) x.hangScans = true;
    const t = await timed({ port: r.port, path: '/scan?prefix=k', timeoutMs: 3 * SCATTER_MS + 1500 });
    const example = `keys k0..k9 spread over 4 shards; ${silents.map((x) => x.name).join(', ')} (holding ${lost.join(', ')}) never answer scans; scatterTimeoutMs = ${SCATTER_MS}; GET /scan?prefix=k`;
    holds(!t.r.failed, 'a scan answers soon after scatterTimeoutMs, even if a shard never does', example, () => `${outcome(t.r)}: ask every shard at once, and give up on each after scatterTimeoutMs`);
    const res = (t.r as { reply: HttpReply }).reply;
    const body = parseScan(res);
    holds(res.status === 503 || (res.status === 200 && body.partial === true), 'a scan that did not hear from every shard answers 503, or 200 with "partial": true; never a silent partial result', example, () =>
      `the router answered ${res.status} with ${body.items?.length ?? 0} of ${keys.length} items and no "partial": true, so the client cannot know that ${lost.join(', ')} are missing`,
    );
    holds(t.wallMs >= SCATTER_MS * 0.95 && t.ms <= SCATTER_MS + SCAN_SLACK_MS, `the scan asks every shard at once and gives up on the silent ones after scatterTimeoutMs, within ${SCAN_SLACK_MS / 1000} s more`, example, () =>
      `the answer came after ${Math.round(t.wallMs)} ms (${Math.round(t.ms)} ms not counting waits for a CPU); it must come between ${SCATTER_MS} and ${SCATTER_MS + SCAN_SLACK_MS} ms` +
      (t.wallMs > 2 * SCATTER_MS ? ' (are the shards asked one after another?)' : ''),
    );
    const released = await waitFor(() => silents.every((x) => x.inFlight() === 0), 1000);
    holds(released, 'a scan request that timed out is abandoned: the router closes it instead of leaving it open', example, () =>
      `1 s after the answer, the silent shards still had ${silents.map((x) => `${x.name}: ${x.inFlight()}`).join(', ')} scan request(s) open from the router`,
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

  it('during a partition move, follows the 421 redirect once: no acknowledged write is lost or applied twice', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    let n = 0;
    a.jitter = () => (n++ * 7) % 6; // answers in a shuffled order
    const r = await router(allTo(a, 1, 8));
    const acked = new Map<string, string>();
    const property = "during a move the router follows the shard's 421 redirect, so requests keep succeeding";
    const setting = 'map v1 sends all 8 partitions to shard-a; while PUTs are in flight, shard-a hands every partition to shard-b (answering 421 {owner: shard-b, version: 2})';
    const doPut = async (key: string, value: string) => {
      const res = await put(r.port, key, value).catch((e: Error) => e);
      if (res instanceof Error || res.status < 200 || res.status > 299) violated(property, setting, `PUT ${kvPath(key)} failed: ${res instanceof Error ? res.message : `status ${res.status}`}`);
      acked.set(key, value);
    };
    for (let i = 0; i < 10; i++) await doPut(`move:${i}`, `v1-${i}`);
    const wave = [...Array.from({ length: 10 }, (_, i) => doPut(`move:${i}`, `v2-${i}`)), ...Array.from({ length: 10 }, (_, i) => doPut(`move:${10 + i}`, `v1-${10 + i}`))];
    await new Promise((res) => setTimeout(res, 4));
    // The move, in one synchronous step: copy shard-a's data to shard-b, then shard-a redirects.
    for (const [k, v] of a.data) b.data.set(k, v);
    for (let p = 0; p < 8; p++) a.moved.set(p, { owner: b.url, version: 2 });
    await Promise.all(wave);
    // Still on map v1: reads and deletes follow the redirect too.
    const read = await httpCall({ port: r.port, path: kvPath('move:3') });
    holds(read.status === 200 && read.body.toString() === acked.get('move:3'), property, `${setting}; then, still on map v1, GET ${kvPath('move:3')}`, () => `got ${read.status} ${JSON.stringify(read.body.toString())}, expected "${acked.get('move:3')}"`);
    const del = await httpCall({ port: r.port, method: 'DELETE', path: kvPath('move:19') });
    holds(del.status >= 200 && del.status < 300 && !b.data.has('move:19'), property, `${setting}; then, still on map v1, DELETE ${kvPath('move:19')}`, () => `got ${del.status}; shard-b ${b.data.has('move:19') ? 'still holds' : 'no longer holds'} the key`);
    acked.delete('move:19');
    // A write after the move, still on map v1: it can only succeed through the redirect.
    await doPut('move:late', 'after the move');
    const late = b.hits.filter((h) => h.applied && h.key === 'move:late').map((h) => h.value);
    holds(late.length === 1 && late[0] === 'after the move', property, `${setting}; then, still on map v1, PUT ${kvPath('move:late')} "after the move"`, () =>
      `shard-b applied ${late.length === 0 ? 'nothing' : late.map((v) => JSON.stringify(v)).join(', ')} for it: the redirected request must carry the same body`,
    );
    r.updateMap(allTo(b, 2, 8));
    for (let i = 20; i < 25; i++) await doPut(`move:${i}`, `v1-${i}`);
    // A later map moves everything on: what the router learnt from the 421s must not outlive it.
    const c = shards[2]!;
    for (const [k, v] of b.data) c.data.set(k, v);
    r.updateMap(allTo(c, 3, 8));
    await doPut('move:v3', 'on shard-c');
    holds(c.hits.some((h) => h.applied && h.key === 'move:v3'), 'a newer map takes effect for the next request, whatever the router learnt from earlier 421 redirects', `${setting}; later updateMap(v2: all → shard-b), then updateMap(v3: all → shard-c); PUT ${kvPath('move:v3')}`, () =>
      `PUT ${kvPath('move:v3')} reached ${shards.filter((s) => s.hits.some((h) => h.key === 'move:v3')).map((s) => s.name).join(', ') || 'no shard'}`,
    );
    const example = '10 PUTs, then 20 concurrent PUTs (10 overwrite) during which shard-a hands all partitions to shard-b, a GET, a DELETE and a PUT, then updateMap(v2), 5 more PUTs, updateMap(v3: all → shard-c) and a PUT';
    for (const [key, value] of acked) {
      const applied = shards.flatMap((s) => s.hits.filter((h) => h.applied && h.method === 'PUT' && h.key === key && h.value === value).map(() => s.name));
      holds(applied.length === 1, 'every acknowledged PUT is applied exactly once', example, () => `PUT ${kvPath(key)} = "${value}" was applied ${applied.length} times (${applied.join(', ') || 'nowhere'})`);
      const got = await httpCall({ port: r.port, path: kvPath(key) });
      holds(got.status === 200 && got.body.toString() === value, 'no acknowledged PUT is lost across a partition move', example, () => `GET ${kvPath(key)} after the move returned ${got.status} ${JSON.stringify(got.body.toString())}, expected "${value}"`);
    }
  });

  it('does not loop when two shards redirect to each other', async () => {
    resetShards(8);
    const [a, b] = shards as [KvShard, KvShard];
    const r = await router(allTo(a, 1, 8));
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

  it('carries values of every size up to 1 MiB unchanged, the empty one included', async () => {
    resetShards(8);
    const r = await router(allTo(shards[1]!, 1, 8));
    const big = 'abcdefghijklmnopqrstuvwxyz0123456789,;= \n'.repeat(Math.ceil((1 << 20) / 41)).slice(0, 1 << 20);
    for (const [key, value, what] of [['empty', '', 'an empty value'], ['big', big, 'a value of exactly 1 MiB (1 048 576 bytes)']] as const) {
      const p = await put(r.port, key, value, 5000);
      const g = await httpCall({ port: r.port, path: kvPath(key), timeoutMs: 5000 });
      const got = g.body.toString('utf8');
      holds(p.status >= 200 && p.status < 300 && g.status === 200 && got === value, 'values up to 1 MiB go through the router both ways unchanged', `PUT ${kvPath(key)} with ${what}, then GET it`, () =>
        `PUT answered ${p.status}; GET answered ${g.status} with ${Buffer.byteLength(got)} bytes, expected ${Buffer.byteLength(value)}`,
      );
    }
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
