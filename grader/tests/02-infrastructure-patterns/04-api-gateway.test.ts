// Hidden tests for 02-infrastructure-patterns/04-api-gateway: the registry against a model, the JSON/XML
// mapping against the test's own reading of the canonical form, and the gateway over real sockets
// (which instance got each request, what format each side saw).
import fc from 'fast-check';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkAsyncProperty, checkProperty, holds } from '@dlab/harness';
import { httpCall, leakGuard, waitFor, listenTracked, parseXml, serializeXml, within, xmlElement, type Tracked, type XmlElement, freePort } from '@dlab/harness/net';
import { jsonToXml, Registry, startGateway, translatorFor, xmlToJson, type Gateway, type Json } from '@impl/02-infrastructure-patterns/04-api-gateway';

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
        examples: [[{ tags: ['one'] }], [[[1]]], [{ a: [] }], [''], [{ s: '', n: null, t: true }], [[{ x: 1.5 }]], [' <&> ']],
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
const dtArb = fc.integer({ min: 0, max: 150 });
const regOpArb: fc.Arbitrary<RegOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('register' as const), dt: dtArb, svc: svcArb, id: idArb, ttlMs: fc.constantFrom(50, 100, 300) }) },
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
        ],
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The gateway on real sockets

type Behaviour = 'ok' | 'fail-500' | 'reset';

interface Backend {
  readonly id: string;
  readonly url: string;
  readonly format: 'json' | 'xml';
  behaviour: Behaviour;
  readonly hits: Array<{ method: string; url: string; contentType: string; body: Buffer }>;
  readonly tracked: Tracked;
}

const leaks = leakGuard('02.4 api-gateway');
const backends: Backend[] = [];
const gateways: Gateway[] = [];

/** A service instance: answers { from, method, path, got } in its own format, or fails as told. */
async function backend(id: string, format: 'json' | 'xml', behaviour: Behaviour = 'ok'): Promise<Backend> {
  const hits: Backend['hits'] = [];
  const b: { -readonly [K in keyof Backend]: Backend[K] } = { id, url: '', format, behaviour, hits, tracked: undefined as unknown as Tracked };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = req.headers['content-type'] ?? '';
      hits.push({ method: req.method ?? 'GET', url: req.url ?? '/', contentType, body });
      if (b.behaviour === 'reset') return void req.socket.destroy(); // the work may be done, the answer is lost
      if (b.behaviour === 'fail-500') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
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
      const answer: Json = { from: id, method: req.method ?? 'GET', path: req.url ?? '/', got };
      if (format === 'xml') res.writeHead(200, { 'content-type': 'application/xml' }).end(serializeXml(oracleEncode(answer), { declaration: true }));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  b.tracked = await listenTracked(server);
  b.url = `http://127.0.0.1:${b.tracked.port}`;
  backends.push(b);
  return b;
}

async function gateway(registry: Registry): Promise<Gateway> {
  const g = await startGateway({ port: 0, registry, translators: { orders: translatorFor('xml'), users: translatorFor('json') } });
  gateways.push(g);
  return g;
}

async function closeAll(): Promise<void> {
  await Promise.all(gateways.splice(0).map((g) => within(g.close(), 2000, 'close() did not resolve within 2 s').catch(() => undefined)));
  await Promise.all(backends.splice(0).map((b) => b.tracked.close()));
}

beforeAll(() => leaks.start());
afterEach(closeAll);
afterAll(async () => {
  await closeAll();
  await leaks.final();
});

const hitsOf = (bs: readonly Backend[]) => bs.map((b) => `${b.id}: ${b.hits.length}`).join(', ');


describe('the API gateway', () => {
  it('answers 404 for an unknown service and 503 for a service without live instances', async () => {
    const g = await gateway(new Registry());
    const unknown = await httpCall({ port: g.port, path: '/svc/payments/1' });
    holds(unknown.status === 404, 'a service the gateway does not expose is a 404', 'GET /svc/payments/1 (the gateway exposes orders and users)', () => `status ${unknown.status}`);
    const none = await httpCall({ port: g.port, path: '/svc/orders/1' });
    holds(none.status === 503, 'a known service with no live instance is a 503', 'GET /svc/orders/1 with nothing registered', () => `status ${none.status}`);
  });

  it('routes only to live instances: expired and deregistered ones get no traffic', async () => {
    const reg = new Registry();
    const [gone, dead, alive] = [await backend('expired', 'json'), await backend('deregistered', 'json'), await backend('alive', 'json')];
    reg.register('users', { id: gone.id, url: gone.url }, 100, Date.now());
    reg.register('users', { id: dead.id, url: dead.url }, 60_000, Date.now());
    reg.register('users', { id: alive.id, url: alive.url }, 60_000, Date.now());
    reg.deregister('users', dead.id);
    const g = await gateway(reg);
    await new Promise((r) => setTimeout(r, 160));
    reg.heartbeat('users', alive.id, Date.now());
    for (let i = 0; i < 12; i++) await httpCall({ port: g.port, path: `/svc/users/u/${i}`, headers: { accept: 'application/json' } });
    holds(gone.hits.length === 0 && dead.hits.length === 0 && alive.hits.length === 12, 'the gateway never routes to an instance whose lease expired (ttl passed without a heartbeat) or that deregistered', 'users: "expired" registered with ttl 100 ms and never heartbeated, "deregistered" deregistered, "alive" heartbeated; 160 ms later, 12 GETs', () =>
      `requests per instance: ${hitsOf([gone, dead, alive])}`,
    );
  });

  it('spreads requests evenly over healthy instances', async () => {
    const reg = new Registry();
    const bs = [await backend('u1', 'json'), await backend('u2', 'json'), await backend('u3', 'json')];
    for (const b of bs) reg.register('users', { id: b.id, url: b.url }, 60_000, Date.now());
    const g = await gateway(reg);
    const N = 240;
    for (let i = 0; i < N; i += 4) await Promise.all([0, 1, 2, 3].map((k) => httpCall({ port: g.port, path: `/svc/users/u/${i + k}` })));
    const least = Math.min(...bs.map((b) => b.hits.length));
    holds(least >= N * (1 / 3 - 0.1), 'with k healthy instances each receives at least 1/k - 0.1 of the traffic', `3 healthy instances of users; ${N} GETs, 4 at a time`, () =>
      `requests per instance: ${hitsOf(bs)} (a tie-break that always picks the first instance starves the others)`,
    );
  });

  it('ejects an instance that refuses or fails, and retries a GET on another one', async () => {
    const reg = new Registry();
    const failing = await backend('failing', 'json', 'fail-500');
    const healthy = await backend('healthy', 'json');
    reg.register('users', { id: 'refusing', url: `http://127.0.0.1:${await freePort()}` }, 60_000, Date.now());
    reg.register('users', { id: failing.id, url: failing.url }, 60_000, Date.now());
    reg.register('users', { id: healthy.id, url: healthy.url }, 60_000, Date.now());
    const g = await gateway(reg);
    const example = 'users: "refusing" (nothing listens on its port), "failing" (answers 500 to everything), "healthy"; 30 GETs one after another';
    for (let i = 0; i < 30; i++) {
      const r = await httpCall({ port: g.port, path: `/svc/users/u/${i}` });
      holds(r.status === 200, 'a GET that fails on one instance (refused, or a 5xx) is retried on another, so the client gets the healthy answer', example, () => `GET /svc/users/u/${i} got ${r.status} ${r.body.toString().slice(0, 100)}`);
    }
    holds(failing.hits.length <= 5, 'an instance that keeps failing is ejected: it stops receiving traffic for a while', example, () => `"failing" received ${failing.hits.length} of the 30 requests`);
  });

  it('never sends a POST twice: after a failure it may have had its effect', async () => {
    const reg = new Registry();
    const resets = [await backend('reset-1', 'json', 'reset'), await backend('reset-2', 'json', 'reset')];
    for (const b of resets) reg.register('users', { id: b.id, url: b.url }, 60_000, Date.now());
    const g = await gateway(reg);
    const r = await httpCall({ port: g.port, method: 'POST', path: '/svc/users/payments', body: '{"amount":10}', headers: { 'content-type': 'application/json' } }).catch((e: Error) => e);
    const total = resets.reduce((n, b) => n + b.hits.length, 0);
    holds(!(r instanceof Error) && r.status >= 500 && total === 1, 'a POST is sent to at most one instance: a failure after sending is reported (5xx), never retried elsewhere', 'users: two instances that read the request and then drop the connection; POST /svc/users/payments', () =>
      `the instances received the POST ${total} times (${hitsOf(resets)}); the client got ${r instanceof Error ? r.message : r.status}`,
    );
    for (const b of resets) b.behaviour = 'fail-500';
    const before = resets.reduce((n, b) => n + b.hits.length, 0);
    const r2 = await httpCall({ port: g.port, method: 'POST', path: '/svc/users/payments', body: '{"amount":20}', headers: { 'content-type': 'application/json' } });
    const sent = resets.reduce((n, b) => n + b.hits.length, 0) - before;
    holds(r2.status >= 500 && sent === 1, 'a POST answered with a 5xx is not retried on another instance', 'users: two instances answering 500; POST /svc/users/payments', () => `the instances received the POST ${sent} times; the client got ${r2.status}`);
  });

  it('translates between the client\'s format and the service\'s, both ways', async () => {
    const reg = new Registry();
    const orders = await backend('orders-1', 'xml');
    const users = await backend('users-1', 'json');
    reg.register('orders', { id: orders.id, url: orders.url }, 60_000, Date.now());
    reg.register('users', { id: users.id, url: users.url }, 60_000, Date.now());
    const g = await gateway(reg);
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
      { seed: 206, numRuns: 30, examples: [[{ tags: ['only one'] }, 'orders', 'json', 'json', 'POST'], [[1], 'users', 'xml', 'xml', 'PUT']] },
    );
  });
});

describe('cleanup', () => {
  it('close() releases every socket, to clients and to instances, and the process holds no open handle', async () => {
    const reg = new Registry();
    const b = await backend('b', 'json');
    reg.register('users', { id: b.id, url: b.url }, 60_000, Date.now());
    const g = await gateway(reg);
    for (let i = 0; i < 3; i++) await httpCall({ port: g.port, path: '/svc/users/x' });
    await within(g.close(), 2000, 'close() did not resolve within 2 s');
    gateways.splice(gateways.indexOf(g), 1);
    const released = await waitFor(() => b.tracked.openSockets() === 0, 1000);
    holds(released, 'close() releases every socket the gateway opened, including idle keep-alive connections to instances', 'three GETs through the gateway, then close()', () =>
      `1 s after close() the instance still had ${b.tracked.openSockets()} open connection(s) from the gateway: use your own http.Agent and destroy it in close()`,
    );
    await closeAll();
    await leaks.check();
  });
});
