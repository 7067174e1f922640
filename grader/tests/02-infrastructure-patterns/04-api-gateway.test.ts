// Hidden tests for 02-infrastructure-patterns/04-api-gateway: the registry against a model, the JSON/XML
// mapping against the test's own reading of the canonical form, and the gateway over real sockets
// (which instance got each request and when, what format each side saw).
//
// Load-proof by construction: time rules are judged with the instances' own clocks in the direction that a
// slow machine cannot break (an instance hit before ejectMs had passed since it failed was certainly hit
// too early), concurrency rules with instances that hold requests until the test releases them, and every
// wait for the gateway is patient (harness/patience.ts).
import fc from 'fast-check';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkAsyncProperty, checkProperty, holds, mark, patientElapsedMs, violated } from '@dlab/harness';
import { httpCall, leakGuard, settleWithin, waitFor, listenTracked, parseXml, serializeXml, within, xmlElement, type HttpReply, type Tracked, type XmlElement, freePort } from '@dlab/harness/net';
import { jsonToXml, Registry, startGateway, translatorFor, xmlToJson, type Gateway, type GatewayOptions, type Json } from '@impl/02-infrastructure-patterns/04-api-gateway';

// ---------------------------------------------------------------------------------------------------
// The canonical mapping, as the test reads and writes it (independent of the code under test)

function oracleEncode(v: Json, name = 'doc'): XmlElement {
  if (v === null) return xmlElement(name, { type: 'null' });
  if (typeof v === 'string') return xmlElement(name, {}, v);
  if (typeof v === 'number') return xmlElement(name, { type: 'number' }, String(v));
  if (typeof v === 'boolean') return xmlElement(name, { type: 'boolean' }, String(v));
  if (Array.isArray(v)) return xmlElement(name, { type: 'array' }, v.map((x) => oracleEncode(x, 'item')));
  return xmlElement(name, { type: 'object' }, Object.entries(v).map(([k, x]) => oracleEncode(x, k)));
}

/** Reads canonical XML strictly: anything else is an error that names the element. */
function oracleDecode(el: XmlElement, where = el.name): Json {
  const type = el.attrs['type'];
  const extra = Object.keys(el.attrs).filter((k) => k !== 'type');
  if (extra.length > 0) throw new Error(`<${where}> has attributes the mapping does not define: ${extra.join(', ')}`);
  const noChildren = () => {
    if (el.children.length > 0) throw new Error(`<${where}${type === undefined ? '' : ` type="${type}"`}> must not have child elements`);
  };
  switch (type) {
    case undefined:
      noChildren();
      return el.text;
    case 'null':
      noChildren();
      if (el.text !== '') throw new Error(`<${where} type="null"> must be empty`);
      return null;
    case 'number': {
      noChildren();
      const n = Number(el.text);
      if (el.text.trim() === '' || !Number.isFinite(n)) throw new Error(`<${where} type="number"> holds ${JSON.stringify(el.text)}`);
      return n;
    }
    case 'boolean':
      noChildren();
      if (el.text !== 'true' && el.text !== 'false') throw new Error(`<${where} type="boolean"> holds ${JSON.stringify(el.text)}`);
      return el.text === 'true';
    case 'array':
      if (el.text !== '') throw new Error(`<${where} type="array"> must hold only <item> elements`);
      return el.children.map((c, i) => {
        if (c.name !== 'item') throw new Error(`<${where} type="array"> holds <${c.name}>, but array elements are <item>`);
        return oracleDecode(c, `${where}/item[${i}]`);
      });
    case 'object': {
      if (el.text !== '') throw new Error(`<${where} type="object"> must hold only elements`);
      const out: { [k: string]: Json } = {};
      for (const c of el.children) {
        if (Object.hasOwn(out, c.name)) throw new Error(`<${where}> has two <${c.name}>`);
        out[c.name] = oracleDecode(c, `${where}/${c.name}`);
      }
      return out;
    }
    default:
      throw new Error(`<${where}> has type="${type}", which the mapping does not define`);
  }
}

/** JSON with sorted keys: equal documents print the same. */
function canon(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k]!)}`).join(',')}}`;
  return JSON.stringify(v);
}

const textArb = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', '0', ' ', '<', '>', '&', '"', "'", '\t', '\n', 'é', '€', '😀'), maxLength: 8 });
const keyArb = fc.stringMatching(/^[a-w][a-z0-9_]{0,5}$/);
const { doc: docArb } = fc.letrec<{ doc: Json }>((tie) => ({
  doc: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    textArb,
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('doc'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('doc'), { maxKeys: 3 }).map((o) => o as Json),
  ),
}));

// ---------------------------------------------------------------------------------------------------

describe('the canonical JSON <-> XML mapping', () => {
  it('jsonToXml writes the canonical form, xmlToJson reads it, and the round trip is the identity', () => {
    checkProperty(
      'for every JSON document d: jsonToXml(d) is the canonical XML of d (so a strict reader gets d back, one-element arrays included), ' +
        'xmlToJson reads the canonical XML of d as d, and d → XML text → d is the identity',
      [docArb],
      (d) => {
        const mine = jsonToXml(d);
        let decoded: Json;
        try {
          decoded = oracleDecode(mine);
        } catch (e) {
          throw new Error(`jsonToXml(${JSON.stringify(d)}) gave ${serializeXml(mine)}, which is not canonical: ${(e as Error).message}`);
        }
        if (canon(decoded) !== canon(d)) throw new Error(`jsonToXml(${JSON.stringify(d)}) gave ${serializeXml(mine)}, which reads back as ${JSON.stringify(decoded)}`);
        const canonical = oracleEncode(d);
        const read = xmlToJson(canonical);
        if (canon(read) !== canon(d)) throw new Error(`xmlToJson(${serializeXml(canonical)}) gave ${JSON.stringify(read)}, expected ${JSON.stringify(d)}`);
        const round = xmlToJson(parseXml(serializeXml(jsonToXml(d))));
        if (canon(round) !== canon(d)) throw new Error(`${JSON.stringify(d)} → XML text → ${JSON.stringify(round)}`);
      },
      {
        seed: 204,
        numRuns: 300,
        examples: [
          [{ tags: ['one'] }],
          [[[1]]],
          [{ a: [] }],
          [''],
          [{ s: '', n: null, t: true }],
          [[{ x: 1.5 }]],
          [' <&> '],
          // Keys that collide with the mapping's own names, and numbers at the edges of a double.
          [{ item: ['item'], type: 'array', doc: { doc: null } }],
          [[0, -1, 1e21, 5e-324, 1.7976931348623157e308, Number.MAX_SAFE_INTEGER]],
        ],
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------------

type RegOp =
  | { readonly op: 'register'; readonly dt: number; readonly svc: string; readonly id: string; readonly ttlMs: number }
  | { readonly op: 'heartbeat' | 'deregister'; readonly dt: number; readonly svc: string; readonly id: string }
  | { readonly op: 'live'; readonly dt: number; readonly svc: string };

const svcArb = fc.constantFrom('orders', 'users');
const idArb = fc.constantFrom('i1', 'i2', 'i3');
// Steps land on lease edges (ttl 0, 50, 100, 300; steps of exactly 50 and 100) as well as between them.
const dtArb = fc.oneof(fc.constantFrom(0, 1, 49, 50, 99, 100), fc.integer({ min: 0, max: 150 }));
const regOpArb: fc.Arbitrary<RegOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('register' as const), dt: dtArb, svc: svcArb, id: idArb, ttlMs: fc.constantFrom(0, 50, 100, 300) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('heartbeat' as const), dt: dtArb, svc: svcArb, id: idArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deregister' as const), dt: dtArb, svc: svcArb, id: idArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('live' as const), dt: dtArb, svc: svcArb }) },
);

describe('the service registry', () => {
  it('an instance is live until ttl after its last register or heartbeat; expired instances stay gone', () => {
    checkProperty(
      'live(svc, now) lists exactly the instances with now < (last register or heartbeat) + ttlMs, not deregistered; ' +
        'heartbeat returns true and extends the lease only for a live instance (an expired one must register again)',
      [fc.array(regOpArb, { minLength: 1, maxLength: 30 })],
      (ops) => {
        const reg = new Registry();
        const model = new Map<string, { url: string; ttlMs: number; last: number }>();
        let now = 0;
        let version = 0;
        const log: string[] = [];
        const isLive = (k: string) => {
          const e = model.get(k);
          return e !== undefined && now < e.last + e.ttlMs;
        };
        for (const o of ops) {
          now += o.dt;
          if (o.op === 'register') {
            const url = `http://127.0.0.1:${9000 + ++version}`;
            reg.register(o.svc, { id: o.id, url }, o.ttlMs, now);
            model.set(`${o.svc}/${o.id}`, { url, ttlMs: o.ttlMs, last: now });
            log.push(`t=${now} register(${o.svc}, ${o.id}, ttl ${o.ttlMs})`);
          } else if (o.op === 'heartbeat') {
            const k = `${o.svc}/${o.id}`;
            const want = isLive(k);
            if (want) model.get(k)!.last = now;
            const got = reg.heartbeat(o.svc, o.id, now);
            log.push(`t=${now} heartbeat(${o.svc}, ${o.id})`);
            if (got !== want) throw new Error(`after ${log.join(', ')}: heartbeat returned ${String(got)}, expected ${want}`);
          } else if (o.op === 'deregister') {
            reg.deregister(o.svc, o.id);
            model.delete(`${o.svc}/${o.id}`);
            log.push(`t=${now} deregister(${o.svc}, ${o.id})`);
          } else {
            const got = reg
              .live(o.svc, now)
              .map((i) => `${i.id}@${i.url}`)
              .sort();
            const want = [...model.entries()]
              .filter(([k]) => k.startsWith(`${o.svc}/`) && isLive(k))
              .map(([k, e]) => `${k.slice(o.svc.length + 1)}@${e.url}`)
              .sort();
            log.push(`t=${now} live(${o.svc})`);
            if (got.join(' ') !== want.join(' ')) throw new Error(`after ${log.join(', ')}: live returned [${got.join(', ')}], expected [${want.join(', ')}]`);
          }
        }
      },
      {
        seed: 205,
        numRuns: 300,
        examples: [
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 100 }, { op: 'live', dt: 150, svc: 'orders' }]],
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 100 }, { op: 'heartbeat', dt: 120, svc: 'orders', id: 'i1' }, { op: 'live', dt: 0, svc: 'orders' }]],
          // Exactly at the end of the lease: already expired.
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 100 }, { op: 'live', dt: 100, svc: 'orders' }]],
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 100 }, { op: 'heartbeat', dt: 100, svc: 'orders', id: 'i1' }, { op: 'live', dt: 0, svc: 'orders' }]],
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 0 }, { op: 'live', dt: 0, svc: 'orders' }, { op: 'heartbeat', dt: 0, svc: 'orders', id: 'i1' }]],
          // The same id in two services, and a register that moves a live instance to a new URL.
          [[{ op: 'register', dt: 0, svc: 'orders', id: 'i1', ttlMs: 300 }, { op: 'register', dt: 0, svc: 'users', id: 'i1', ttlMs: 50 }, { op: 'register', dt: 10, svc: 'orders', id: 'i1', ttlMs: 50 }, { op: 'live', dt: 60, svc: 'orders' }, { op: 'live', dt: 0, svc: 'users' }]],
        ],
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The gateway on real sockets

/**
 * What an instance does with a request: answer (`ok`), answer 500 (`fail-500`), answer 500 to its first
 * request only (`fail-once`), read it and drop the connection (`reset`), or read it and never answer (`hang`).
 */
type Behaviour = 'ok' | 'fail-500' | 'fail-once' | 'reset' | 'hang';

interface Hit {
  readonly method: string;
  readonly url: string;
  readonly contentType: string;
  readonly body: Buffer;
  /** Date.now() when the request had arrived. */
  readonly at: number;
  /** Date.now() when its connection closed, if it has. */
  closedAt?: number;
}

interface Backend {
  readonly id: string;
  readonly url: string;
  readonly format: 'json' | 'xml';
  behaviour: Behaviour;
  /** While true, the instance holds every request (after recording it) until release(). */
  held: boolean;
  release(): void;
  readonly hits: Hit[];
  readonly tracked: Tracked;
}

const leaks = leakGuard('02.4 api-gateway');
const backends: Backend[] = [];
const gateways: Gateway[] = [];

/** A service instance: answers { from, method, path, got } in its own format, or fails as told. */
async function backend(id: string, format: 'json' | 'xml', behaviour: Behaviour = 'ok'): Promise<Backend> {
  const hits: Hit[] = [];
  const parked: Array<() => void> = [];
  const b: { -readonly [K in keyof Backend]: Backend[K] } = {
    id,
    url: '',
    format,
    behaviour,
    held: false,
    release() {
      b.held = false;
      for (const f of parked.splice(0)) f();
    },
    hits,
    tracked: undefined as unknown as Tracked,
  };
  // The requests each connection carried, so that its close can be dated on them.
  const onSocket = new WeakMap<object, Hit[]>();
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = req.headers['content-type'] ?? '';
      const hit: Hit = { method: req.method ?? 'GET', url: req.url ?? '/', contentType, body, at: Date.now() };
      hits.push(hit);
      onSocket.get(req.socket)?.push(hit);
      const act = () => answer(req, res, body, contentType, hits.length);
      if (b.held) parked.push(act);
      else act();
    });
  });
  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer, contentType: string, n: number) => {
    if (b.behaviour === 'hang') return; // accepted, read, and never answered
    if (b.behaviour === 'reset') return void req.socket.destroy(); // the work may be done, the answer is lost
    if (b.behaviour === 'fail-500' || (b.behaviour === 'fail-once' && n === 1)) return void res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
    let got: Json = null;
    if (body.length > 0) {
      try {
        const isXml = /\bxml\b/.test(contentType);
        if ((format === 'xml') !== isXml) throw new Error(`this service speaks ${format}, but the request came as ${contentType || 'no content type'}`);
        got = isXml ? oracleDecode(parseXml(body.toString('utf8'))) : (JSON.parse(body.toString('utf8')) as Json);
      } catch (e) {
        return void res.writeHead(415, { 'content-type': 'text/plain' }).end((e as Error).message);
      }
    }
    const out: Json = { from: id, method: req.method ?? 'GET', path: req.url ?? '/', got };
    if (format === 'xml') res.writeHead(200, { 'content-type': 'application/xml' }).end(serializeXml(oracleEncode(out), { declaration: true }));
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  };
  server.on('connection', (socket) => {
    const carried: Hit[] = [];
    onSocket.set(socket, carried);
    socket.once('close', () => {
      for (const h of carried) h.closedAt ??= Date.now();
    });
  });
  b.tracked = await listenTracked(server);
  b.url = `http://127.0.0.1:${b.tracked.port}`;
  backends.push(b);
  return b;
}

const SETTLES = 'everything the API returns settles: startGateway and close resolve or reject within 2 s';

/** Awaits `p` for at most 2 s of patient time; a promise still pending then fails the test, naming `what`. */
async function settles<T>(p: Promise<T>, what: string, example: string): Promise<T> {
  const r = await settleWithin(p, 2000);
  if (r.kind === 'hung') violated(SETTLES, example, `${what} neither resolved nor rejected within 2 s`);
  if (r.kind === 'rejected') throw r.error;
  return r.value;
}

async function gateway(registry: Registry, example: string, opts: Partial<GatewayOptions> = {}): Promise<Gateway> {
  const g = await settles(startGateway({ port: 0, registry, translators: { orders: translatorFor('xml'), users: translatorFor('json') }, ...opts }), 'startGateway()', example);
  gateways.push(g);
  return g;
}

async function closeAll(): Promise<void> {
  for (const b of backends) b.release();
  await Promise.all(gateways.splice(0).map((g) => within(g.close(), 2000, 'pending').catch(() => undefined)));
  await Promise.all(backends.splice(0).map((b) => b.tracked.close()));
}

beforeAll(() => leaks.start());
afterEach(closeAll);
afterAll(async () => {
  await closeAll();
  await leaks.final();
});

const hitsOf = (bs: readonly Backend[]) => bs.map((b) => `${b.id}: ${b.hits.length}`).join(', ');
const register = (reg: Registry, svc: string, ...bs: Backend[]) => {
  for (const b of bs) reg.register(svc, { id: b.id, url: b.url }, 60_000, Date.now());
};
const statusOf = (r: HttpReply | Error) => (r instanceof Error ? r.message : `${r.status} ${r.body.toString().slice(0, 120)}`);

describe('the API gateway', () => {
  it('answers 404 for an unknown service and 503 for a service without live instances', async () => {
    const example = 'GET /svc/payments/1 and GET /svc/userss/1 (the gateway exposes orders and users), then GET /svc/orders/1 with nothing registered';
    const g = await gateway(new Registry(), example);
    const unknown = await httpCall({ port: g.port, path: '/svc/payments/1' });
    const prefix = await httpCall({ port: g.port, path: '/svc/userss/1' });
    holds(unknown.status === 404 && prefix.status === 404, 'a service the gateway does not expose is a 404', example, () => `statuses ${unknown.status} and ${prefix.status}`);
    const none = await httpCall({ port: g.port, path: '/svc/orders/1' });
    holds(none.status === 503, 'a known service with no live instance is a 503', example, () => `status ${none.status}`);
  });

  it('routes only to live instances: expired and deregistered ones get no traffic', async () => {
    const reg = new Registry();
    const [gone, dead, alive] = [await backend('expired', 'json'), await backend('deregistered', 'json'), await backend('alive', 'json')];
    reg.register('users', { id: gone.id, url: gone.url }, 50, Date.now());
    reg.register('users', { id: dead.id, url: dead.url }, 60_000, Date.now());
    reg.register('users', { id: alive.id, url: alive.url }, 60_000, Date.now());
    reg.deregister('users', dead.id);
    const example = 'users: "expired" registered with ttl 50 ms and never heartbeated, "deregistered" deregistered, "alive" heartbeated; 60 ms later, 12 GETs';
    const g = await gateway(reg, example);
    await new Promise((r) => setTimeout(r, 60));
    reg.heartbeat('users', alive.id, Date.now());
    for (let i = 0; i < 12; i++) await httpCall({ port: g.port, path: `/svc/users/u/${i}`, headers: { accept: 'application/json' } });
    holds(gone.hits.length === 0 && dead.hits.length === 0 && alive.hits.length === 12, 'the gateway never routes to an instance whose lease expired (ttl passed without a heartbeat) or that deregistered', example, () =>
      `requests per instance: ${hitsOf([gone, dead, alive])}`,
    );
    // The edges of the path: no rest, a query without a rest, a trailing slash.
    const paths: Array<[string, string]> = [['/svc/users', '/'], ['/svc/users?x=1', '/?x=1'], ['/svc/users/', '/'], ['/svc/users/a/b?c=d&e', '/a/b?c=d&e']];
    for (const [sent, want] of paths) {
      const r = await httpCall({ port: g.port, path: sent });
      const got = alive.hits.at(-1)?.url;
      holds(r.status === 200 && got === want, '/svc/<name><rest> reaches the instance as <rest> (or / when there is none), query kept', `GET ${sent}`, () => `the instance was asked for ${got} (the client got ${r.status}), expected ${want}`);
    }
  });

  it('spreads requests evenly over healthy instances, one at a time and concurrently', async () => {
    const reg = new Registry();
    const bs = [await backend('u1', 'json'), await backend('u2', 'json'), await backend('u3', 'json')];
    register(reg, 'users', ...bs);
    const example = '3 healthy instances of users; 30 GETs one after another (an idle gateway), then 60 GETs 4 at a time';
    const g = await gateway(reg, example);
    for (let i = 0; i < 30; i++) await httpCall({ port: g.port, path: `/svc/users/u/${i}` });
    for (let i = 30; i < 90; i += 4) await Promise.all([0, 1, 2, 3].map((k) => httpCall({ port: g.port, path: `/svc/users/u/${i + k}` })));
    const least = Math.min(...bs.map((b) => b.hits.length));
    holds(least >= 90 * (1 / 3 - 0.1), 'with k healthy instances each receives at least 1/k - 0.1 of the traffic', example, () =>
      `requests per instance: ${hitsOf(bs)} (a tie-break that always picks the first instance sends everything to it whenever the gateway is idle)`,
    );
  });

  it('ejects an instance that refuses or fails (default ejectMs: 5 s), and retries a GET on another one', async () => {
    const reg = new Registry();
    const failing = await backend('failing', 'json', 'fail-500');
    const healthy = await backend('healthy', 'json');
    reg.register('users', { id: 'refusing', url: `http://127.0.0.1:${await freePort()}` }, 60_000, Date.now());
    register(reg, 'users', failing, healthy);
    const example = 'users: "refusing" (nothing listens on its port), "failing" (answers 500 to everything), "healthy"; 30 GETs one after another, default ejectMs';
    const g = await gateway(reg, example);
    for (let i = 0; i < 30; i++) {
      const r = await httpCall({ port: g.port, path: `/svc/users/u/${i}` });
      holds(r.status === 200, 'a GET that fails on one instance (refused, or a 5xx) is retried on another, so the client gets the healthy answer', example, () => `GET /svc/users/u/${i} got ${statusOf(r)}`);
    }
    const first = failing.hits[0]?.at ?? 0;
    const early = failing.hits.slice(1).filter((h) => h.at < first + 5000);
    holds(early.length === 0, 'an instance that failed gets no request for ejectMs (5 s by default) after its failure', example, () =>
      `"failing" received ${failing.hits.length} requests, ${early.length} of them less than 5 s after its first failure (${early.map((h) => `+${h.at - first} ms`).join(', ')})`,
    );
  });

  it('an ejected instance gets no request for ejectMs after it failed, and gets requests again afterwards', async () => {
    const E = 150;
    const reg = new Registry();
    const flaky = await backend('flaky', 'json', 'fail-once');
    const steady = await backend('steady', 'json');
    register(reg, 'users', flaky, steady);
    const example = `ejectMs ${E}; users: "flaky" (answers 500 to its first request, then recovers) and "steady"; GETs one after another for ${E + 100} ms after flaky failed, then 4 more`;
    const g = await gateway(reg, example, { ejectMs: E });
    const get = async (i: number) => {
      const r = await httpCall({ port: g.port, path: `/svc/users/e/${i}` });
      holds(r.status === 200, 'a GET that fails on one instance is retried on another', example, () => `GET /svc/users/e/${i} got ${statusOf(r)}`);
    };
    let i = 0;
    while (flaky.hits.length === 0 && i < 10) await get(i++);
    const failedAt = flaky.hits[0]?.at ?? 0;
    // Patient time never runs ahead of the clock, so when this loop ends ejectMs has certainly passed.
    const since = mark();
    while (patientElapsedMs(since) < E + 100) {
      await get(i++);
      await new Promise((r) => setTimeout(r, 5));
    }
    for (let k = 0; k < 4; k++) await get(i++);
    const early = flaky.hits.slice(1).filter((h) => h.at < failedAt + E);
    holds(early.length === 0, 'an instance that failed gets no request for ejectMs after its failure', example, () =>
      `"flaky" got requests ${early.map((h) => `${h.at - failedAt} ms`).join(', ')} after its failure, ejectMs is ${E}`,
    );
    holds(flaky.hits.length > 1, 'once ejectMs has passed, the instance gets requests again (ejection is for ejectMs, not for ever)', example, () =>
      `"flaky" got no request in the ${i} GETs, the last 4 of them sent more than ${E + 100} ms after it failed`,
    );
  });

  it('when every live instance is ejected, the gateway still tries them instead of refusing', async () => {
    const reg = new Registry();
    const only = await backend('only', 'json', 'fail-once');
    register(reg, 'users', only);
    const example = 'users: one instance that answers 500 to its first request, then recovers; two GETs';
    const g = await gateway(reg, example);
    const r1 = await httpCall({ port: g.port, path: '/svc/users/1' });
    holds(r1.status === 500 && only.hits.length === 1, 'a 5xx answer with no other instance to try is passed on, and the same instance is not tried twice for one request', example, () =>
      `the first GET got ${statusOf(r1)}; the instance received it ${only.hits.length} times`,
    );
    const r2 = await httpCall({ port: g.port, path: '/svc/users/2' });
    holds(r2.status === 200, 'when every live instance is ejected, they are all tried rather than none (panic mode)', example, () => `the second GET got ${statusOf(r2)}`);
  });

  it('a GET goes to at most 3 instances, each a different one', async () => {
    const reg = new Registry();
    const bs = [await backend('f1', 'json', 'fail-500'), await backend('f2', 'json', 'fail-500'), await backend('f3', 'json', 'fail-500'), await backend('f4', 'json', 'fail-500')];
    register(reg, 'users', ...bs);
    const example = 'users: four instances that all answer 500; one GET';
    const g = await gateway(reg, example);
    const r = await httpCall({ port: g.port, path: '/svc/users/x' });
    const hit = bs.filter((b) => b.hits.length > 0);
    holds(r.status >= 500 && hit.length === 3 && hit.every((b) => b.hits.length === 1), 'a request is sent to at most 3 instances (the first try and 2 retries), never twice to the same one', example, () =>
      `requests per instance: ${hitsOf(bs)}; the client got ${r.status}`,
    );
  });

  it('retries in flight stay within the budget: max(3, 20% of the requests in progress)', async () => {
    const reg = new Registry();
    const failing = await backend('failing', 'json', 'fail-500');
    const parking = await backend('parking', 'json');
    register(reg, 'users', failing, parking);
    const g = await gateway(reg, 'ejectMs 0', { ejectMs: 0, upstreamTimeoutMs: 20_000 });
    const round = async (n: number, tag: string) => {
      const limit = Math.max(3, Math.floor((n * 20) / 100));
      const example =
        `ejectMs 0 (never skipped); users: "failing" (answers 500) and "parking" (answers 200); both hold every request until all ${n} ` +
        `concurrent GETs have arrived; then "failing" answers, and "parking" holds the retries`;
      failing.held = parking.held = true;
      const f0 = failing.hits.length;
      const p0 = parking.hits.length;
      let settled = 0;
      const calls = Array.from({ length: n }, (_, i) =>
        httpCall({ port: g.port, path: `/svc/users/${tag}/${i}`, timeoutMs: 60_000 })
          .catch((e: Error) => e)
          .finally(() => settled++),
      );
      const arrived = await waitFor(() => failing.hits.length - f0 + parking.hits.length - p0 >= n, 3000);
      holds(arrived, 'every request reaches an instance', example, () => `only ${failing.hits.length - f0 + parking.hits.length - p0} of ${n} requests reached an instance`);
      const failed = new Set(failing.hits.slice(f0).map((h) => h.url));
      holds(failed.size > 0, 'ejectMs 0 means an instance that failed is never skipped', example, () => `"failing" received none of the ${n} requests (after it had failed in an earlier round)`);
      const retried = () => parking.hits.slice(p0).filter((h) => failed.has(h.url)).length;
      failing.release();
      // Every request that failed either waits at "parking" as a retry, or has been answered.
      const quiet = await waitFor(() => retried() + settled >= failed.size, 3000);
      const r = retried();
      holds(quiet && r === Math.min(failed.size, limit), `a retry is sent exactly while fewer than max(3, 20% of the requests in progress) retries are in flight (here ${limit})`, example, () =>
        `${failed.size} requests failed on "failing"; ${r} of them were retried on "parking" while the others waited there${quiet ? '' : ` (and ${failed.size - r - settled} were neither retried nor answered after 3 s)`}`,
      );
      parking.release();
      const replies = await within(Promise.all(calls), 3000, 'pending').catch(() => undefined);
      holds(replies !== undefined, 'every request gets an answer', example, () => `${n - settled} of ${n} requests had no answer 3 s after every instance answered`);
      const refused = replies!.filter((x) => x instanceof Error || x.status < 500).length;
      holds(refused === r + (n - failed.size), 'a request that was not retried gets the 5xx; a retried one gets the answer of the retry', example, () =>
        `${replies!.filter((x) => !(x instanceof Error) && x.status === 200).length} requests got 200, expected ${r + (n - failed.size)}`,
      );
    };
    await round(30, 'a');
    await round(10, 'b');
  });

  it('gives up on an instance that accepts and never answers after upstreamTimeoutMs, closes that connection, and retries a GET', async () => {
    const T = 150;
    const reg = new Registry();
    const hanging = await backend('hanging', 'json', 'hang');
    const healthy = await backend('healthy', 'json');
    register(reg, 'users', hanging, healthy);
    const example = `upstreamTimeoutMs ${T}; users: "hanging" (reads the request, never answers) and "healthy"; GETs until one reached "hanging"`;
    const g = await gateway(reg, example, { upstreamTimeoutMs: T });
    for (let i = 0; i < 4 && hanging.hits.length === 0; i++) {
      const sentAt = Date.now();
      const since = mark();
      const r = await within(httpCall({ port: g.port, path: `/svc/users/h/${i}`, timeoutMs: 60_000 }), T + 1000, 'pending').catch(() => undefined);
      const took = patientElapsedMs(since);
      if (hanging.hits.length === 0) continue;
      if (r === undefined)
        violated(
          `an attempt is abandoned after upstreamTimeoutMs (${T} ms): the client is answered within upstreamTimeoutMs + 1 s`,
          example,
          `no answer ${T + 1000} ms after the GET that reached "hanging" (a request to an instance that never answers needs a deadline)`,
        );
      holds(r.status === 200, 'a GET whose attempt timed out is retried on another instance', example, () => `the client got ${statusOf(r)} after ${Math.round(took)} ms`);
      const hit = hanging.hits[0]!;
      const closed = await waitFor(() => hit.closedAt !== undefined, 1000);
      holds(closed, 'the connection of an attempt that timed out is closed (not left open on the instance)', example, () =>
        `1 s after the client was answered, "hanging" still held the gateway's connection (${hanging.tracked.openSockets()} open)`,
      );
      holds(hit.closedAt! - sentAt >= T - 5, `an attempt is not abandoned before upstreamTimeoutMs (${T} ms)`, example, () => `the gateway closed the connection ${hit.closedAt! - sentAt} ms after the client sent the GET`);
    }
    holds(hanging.hits.length > 0, 'requests are spread over the live instances', example, () => `"hanging" received none of 4 GETs`);
    // An instance that timed out is ejected like one that failed.
    const firstAt = hanging.hits[0]!.at;
    for (let i = 0; i < 4; i++) await httpCall({ port: g.port, path: `/svc/users/after/${i}` });
    const again = hanging.hits.slice(1).filter((h) => h.at < firstAt + 5000);
    holds(again.length === 0, 'an instance that timed out gets no request for ejectMs', `${example}; then 4 more GETs`, () => `"hanging" received ${again.length} more`);
  });

  it('never sends a POST twice: after a failure it may have had its effect', async () => {
    const reg = new Registry();
    const resets = [await backend('reset-1', 'json', 'reset'), await backend('reset-2', 'json', 'reset')];
    register(reg, 'users', ...resets);
    const g = await gateway(reg, 'two instances that drop the connection');
    const r = await httpCall({ port: g.port, method: 'POST', path: '/svc/users/payments', body: '{"amount":10}', headers: { 'content-type': 'application/json' } }).catch((e: Error) => e);
    const total = resets.reduce((n, b) => n + b.hits.length, 0);
    holds(!(r instanceof Error) && r.status === 502 && total === 1, 'a POST is sent to at most one instance: a failure after sending is reported (502), never retried elsewhere', 'users: two instances that read the request and then drop the connection; POST /svc/users/payments', () =>
      `the instances received the POST ${total} times (${hitsOf(resets)}); the client got ${statusOf(r)}`,
    );
    for (const b of resets) b.behaviour = 'fail-500';
    const before = resets.reduce((n, b) => n + b.hits.length, 0);
    const r2 = await httpCall({ port: g.port, method: 'POST', path: '/svc/users/payments', body: '{"amount":20}', headers: { 'content-type': 'application/json' } });
    const sent = resets.reduce((n, b) => n + b.hits.length, 0) - before;
    holds(r2.status === 500 && sent === 1, 'a POST answered with a 5xx is not retried on another instance; the 5xx is passed on', 'users: two instances answering 500; POST /svc/users/payments', () => `the instances received the POST ${sent} times; the client got ${r2.status}`);

    const T = 100;
    const hangs = [await backend('hang-1', 'xml', 'hang'), await backend('hang-2', 'xml', 'hang')];
    register(reg, 'orders', ...hangs);
    const example3 = `upstreamTimeoutMs ${T}; orders: two instances that read the request and never answer; POST /svc/orders/payments`;
    const g3 = await gateway(reg, example3, { upstreamTimeoutMs: T });
    const since = mark();
    const r3 = await within(httpCall({ port: g3.port, method: 'POST', path: '/svc/orders/payments', body: '{"amount":30}', headers: { 'content-type': 'application/json' }, timeoutMs: 60_000 }), T + 1000, 'pending').catch(() => undefined);
    const got = hangs.reduce((n, b) => n + b.hits.length, 0);
    holds(r3 !== undefined && r3.status === 504 && got === 1, 'a POST whose attempt timed out is answered 504 after upstreamTimeoutMs and never sent again', example3, () =>
      r3 === undefined ? `no answer ${T + 1000} ms after the POST` : `the client got ${r3.status} after ${Math.round(patientElapsedMs(since))} ms; the instances received the POST ${got} times`,
    );
  });
  it('translates between the client\'s format and the service\'s, both ways', async () => {
    const reg = new Registry();
    const orders = await backend('orders-1', 'xml');
    const users = await backend('users-1', 'json');
    reg.register('orders', { id: orders.id, url: orders.url }, 60_000, Date.now());
    reg.register('users', { id: users.id, url: users.url }, 60_000, Date.now());
    const g = await gateway(reg, 'orders speaks XML, users speaks JSON');
    await checkAsyncProperty(
      'a client sending JSON or XML and asking (Accept) for JSON or XML reaches an XML service and a JSON service alike: ' +
        'the service receives the document once, in its own format, and the client receives the answer in the format it asked for',
      [docArb, fc.constantFrom('orders', 'users'), fc.constantFrom('json', 'xml'), fc.constantFrom('json', 'xml'), fc.constantFrom('POST', 'PUT', 'GET')],
      async (doc, svc, sendAs, want, method) => {
        const b = svc === 'orders' ? orders : users;
        const before = b.hits.length;
        const body = method === 'GET' ? undefined : sendAs === 'json' ? JSON.stringify(doc) : serializeXml(oracleEncode(doc), { declaration: true });
        const headers: Record<string, string> = { accept: want === 'json' ? 'application/json' : 'application/xml' };
        if (body !== undefined) headers['content-type'] = sendAs === 'json' ? 'application/json' : 'application/xml';
        const r = await httpCall({ port: g.port, method, path: `/svc/${svc}/things/7?x=1`, headers, ...(body !== undefined ? { body } : {}) });
        const what = `${method} /svc/${svc}/things/7?x=1 (${svc} speaks ${b.format}) with ${body === undefined ? 'no body' : `a ${sendAs} body`}, Accept ${want}`;
        if (b.hits.length - before !== 1) throw new Error(`${what}: the service received ${b.hits.length - before} requests, expected 1`);
        const hit = b.hits[b.hits.length - 1]!;
        if (r.status !== 200) throw new Error(`${what}: the client got ${r.status} ${r.body.toString().slice(0, 200)}`);
        if (hit.url !== '/things/7?x=1') throw new Error(`${what}: the service was asked for ${hit.url}, expected /things/7?x=1`);
        const ct = String(r.headers['content-type'] ?? '');
        if (!new RegExp(`\\b${want}\\b`).test(ct)) throw new Error(`${what}: the client asked for ${want} and got content type ${JSON.stringify(ct)}`);
        let answer: Json;
        try {
          answer = want === 'json' ? (JSON.parse(r.body.toString('utf8')) as Json) : oracleDecode(parseXml(r.body.toString('utf8')));
        } catch (e) {
          throw new Error(`${what}: the answer is not canonical ${want}: ${(e as Error).message}; body ${r.body.toString().slice(0, 200)}`);
        }
        const expected: Json = { from: b.id, method, path: '/things/7?x=1', got: body === undefined ? null : doc };
        if (canon(answer) !== canon(expected)) throw new Error(`${what}: the client got ${JSON.stringify(answer)}, expected ${JSON.stringify(expected)}`);
      },
      {
        seed: 206,
        numRuns: 30,
        examples: [
          [{ tags: ['only one'] }, 'orders', 'json', 'json', 'POST'],
          [[1], 'users', 'xml', 'xml', 'PUT'],
          [{ item: [], type: '' }, 'orders', 'xml', 'json', 'PUT'],
          ['', 'users', 'json', 'xml', 'POST'],
        ],
      },
    );
  });
});

describe('cleanup', () => {
  it('close() releases every socket, to clients and to instances, and the process holds no open handle', async () => {
    const reg = new Registry();
    const b = await backend('b', 'json');
    reg.register('users', { id: b.id, url: b.url }, 60_000, Date.now());
    const example = 'three GETs through the gateway, then close()';
    const g = await gateway(reg, example);
    for (let i = 0; i < 3; i++) await httpCall({ port: g.port, path: '/svc/users/x' });
    await settles(g.close(), 'close()', example);
    gateways.splice(gateways.indexOf(g), 1);
    const released = await waitFor(() => b.tracked.openSockets() === 0, 1000);
    holds(released, 'close() releases every socket the gateway opened, including idle keep-alive connections to instances', example, () =>
      `1 s after close() the instance still had ${b.tracked.openSockets()} open connection(s) from the gateway: use your own http.Agent and destroy it in close()`,
    );
    await closeAll();
    await leaks.check();
  });
});
