// Hidden tests for 02-infrastructure-patterns/01-sidecar-tls: a TLS sidecar in front of the legacy app,
// judged from outside over real sockets (what clients get, what the app sees, which sockets stay open).
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkAsyncProperty, holds, patientSleep, patientTimeout, violated } from '@dlab/harness';
import { bodyOf, callFails, certSerial, httpCall, leakGuard, loadPki, openCall, startLegacyApp, waitFor, within, type HttpCall, type LegacyApp, type Pki, type TlsClientOptions, freePort } from '@dlab/harness/net';
import { startTlsSidecar, type Sidecar, type SidecarOptions } from '@impl/02-infrastructure-patterns/01-sidecar-tls';

let pki: Pki;
let app: LegacyApp;
let sidecar: Sidecar | undefined;
const leaks = leakGuard('02.1 sidecar-tls');
let trustA: TlsClientOptions;
const extra: Sidecar[] = [];
let ids = 0;
const nextId = (tag: string) => `${tag}-${++ids}`;

/** A sidecar with these options in front of the legacy app; closed after the test. */
async function startExtra(opts: Partial<SidecarOptions>): Promise<Sidecar> {
  const s = await startTlsSidecar({ listenPort: 0, upstream: { host: '127.0.0.1', port: app.port }, key: pki.server.key, cert: pki.server.cert, ...opts });
  extra.push(s);
  return s;
}

let starting: Promise<Sidecar> | undefined;
/** The shared sidecar (plain TLS in front of the app), started by the first test that needs it. */
async function main(): Promise<Sidecar> {
  starting ??= startTlsSidecar({ listenPort: 0, upstream: { host: '127.0.0.1', port: app.port }, key: pki.server.key, cert: pki.server.cert }).then((s) => (sidecar = s));
  return starting;
}

beforeAll(async () => {
  leaks.start();
  pki = loadPki();
  trustA = { ca: pki.caA };
  app = await startLegacyApp();
});

const closeQuietly = (s: Sidecar) => within(s.close(), 2000, 'close() did not resolve within 2 s').catch(() => undefined);

afterEach(async () => {
  app.release();
  await Promise.all(extra.splice(0).map(closeQuietly));
});

afterAll(async () => {
  app?.release();
  await Promise.all(extra.splice(0).map(closeQuietly));
  if (sidecar !== undefined) await closeQuietly(sidecar);
  await app?.close();
  await leaks.final();
});

/** The file's last test: close everything and check that nothing stays open. */
async function closeAndCheck(): Promise<void> {
  await Promise.all(extra.splice(0).map((s) => s.close()));
  // At least one request through a kept-alive upstream connection, so there is something to release.
  const { port } = await main();
  await httpCall({ port, path: '/echo?status=200', tls: trustA });
  if (sidecar !== undefined) {
    const s = sidecar;
    sidecar = undefined;
    await within(s.close(), 2000, 'close() did not resolve within 2 s');
    // Upstream socket counter: close() must also release the sidecar's connections to the app.
    if (!(await waitFor(() => app.openSockets() === 0, 1000))) {
      violated(
        'close() releases every socket the sidecar opened, including its keep-alive connections to the app',
        'start the sidecar, proxy the requests of this test file, then close() it',
        `1 s after close() resolved the legacy app still had ${app.openSockets()} open connection(s) from the sidecar. ` +
          'Use your own http.Agent for upstream requests and destroy it in close().',
      );
    }
  }
  await app.close();
  await leaks.check();
}

// ---------------------------------------------------------------------------------------------------
// What a request looks like, and how two replies compare

interface GenRequest {
  readonly method: string;
  readonly path: string;
  /** x-test-* headers (names may repeat). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Adds headers that belong to the client's hop only, and a spoofed X-Forwarded-Proto. */
  readonly hopHeaders: boolean;
  readonly xff: string | null;
  readonly body: Uint8Array | null;
  /** Send the body in three writes without a content-length (chunked). */
  readonly chunked: boolean;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function rawPairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/** Response headers a proxy must pass on unchanged: all but hop-by-hop, framing and Date. */
function endToEnd(raw: readonly string[]): Map<string, string[]> {
  const pairs = rawPairs(raw);
  const drop = new Set([...HOP, 'date', 'content-length']);
  for (const [k, v] of pairs) if (k === 'connection') for (const t of v.split(',')) drop.add(t.trim().toLowerCase());
  const out = new Map<string, string[]>();
  for (const [k, v] of pairs) if (!drop.has(k)) out.set(k, [...(out.get(k) ?? []), v]);
  return out;
}

function show(r: GenRequest): string {
  const h = r.headers.map(([k, v]) => `${k}: ${v}`);
  if (r.hopHeaders) h.push('connection: x-hop-secret', 'x-hop-secret: 1', 'proxy-authorization: Basic Zm9vOmJhcg==', 'keep-alive: timeout=7', 'x-forwarded-proto: http');
  if (r.xff !== null) h.push(`x-forwarded-for: ${r.xff}`);
  const body = r.body === null ? 'no body' : `${r.body.length}-byte body${r.chunked ? ' (chunked)' : ''}`;
  return `${r.method} ${r.path} [${h.join('; ') || 'no extra headers'}] with ${body}`;
}

function callOf(r: GenRequest, port: number, id: string, tlsOpts?: TlsClientOptions): HttpCall {
  const headers: string[] = ['x-test-id', id];
  for (const [k, v] of r.headers) headers.push(k, v);
  if (r.hopHeaders) headers.push('connection', 'x-hop-secret', 'x-hop-secret', '1', 'proxy-authorization', 'Basic Zm9vOmJhcg==', 'keep-alive', 'timeout=7', 'x-forwarded-proto', 'http');
  if (r.xff !== null) headers.push('x-forwarded-for', r.xff);
  const body = r.body === null ? undefined : r.chunked ? chunksOf(Buffer.from(r.body)) : Buffer.from(r.body);
  // Node only chunks POST/PUT/PATCH bodies by default, so say it explicitly (DELETE may carry a body too).
  if (body !== undefined) headers.push(...(r.chunked ? ['transfer-encoding', 'chunked'] : ['content-length', String((body as Buffer).length)]));
  return { port, method: r.method, path: r.path, headers, ...(body !== undefined ? { body } : {}), ...(tlsOpts !== undefined ? { tls: tlsOpts } : {}) };
}

function chunksOf(b: Buffer): Buffer[] {
  const third = Math.ceil(b.length / 3);
  return [b.subarray(0, third), b.subarray(third, 2 * third), b.subarray(2 * third)].filter((c) => c.length > 0);
}

const segment = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9._~-]{1,8}$/), fc.constantFrom('%20', 'caf%C3%A9', 'a%2Fb', '%E2%9C%93'));
const headerValue = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9,;=._-]{0,12}$/);

const requestArb: fc.Arbitrary<GenRequest> = fc
  .record({
    method: fc.constantFrom('GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'),
    segs: fc.array(segment, { maxLength: 3 }),
    status: fc.constantFrom(200, 201, 202, 204, 301, 404, 418, 500, 503),
    cl: fc.boolean(),
    hop: fc.boolean(),
    query: fc.option(fc.stringMatching(/^[a-z]{1,4}=[a-zA-Z0-9%]{0,6}$/), { nil: null }),
    headers: fc.array(fc.tuple(fc.constantFrom('x-test-a', 'x-test-b', 'x-test-c'), headerValue), { maxLength: 4 }),
    hopHeaders: fc.boolean(),
    xff: fc.option(fc.constantFrom('203.0.113.9', '198.51.100.7, 10.0.0.1'), { nil: null }),
    body: fc.oneof(
      { weight: 2, arbitrary: fc.constant(null) },
      { weight: 3, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => new Uint8Array(Buffer.from(s))) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 31 }).map((n) => new Uint8Array(pseudoRandom(96 * 1024, n))) },
    ),
    chunked: fc.boolean(),
  })
  .map(({ method, segs, status, cl, hop, query, ...rest }) => {
    const q = [`status=${status}`, ...(cl ? ['cl=1'] : []), ...(hop ? ['hop=1'] : []), ...(query !== null ? [query] : [])].join('&');
    const hasBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
    return readable({ method, path: `/echo${segs.map((s) => `/${s}`).join('')}?${q}`, ...rest, body: hasBody ? rest.body : null });
  });

/** Counterexamples print as a request line and a header list, not as a 100 kB byte array. */
function readable(r: GenRequest): GenRequest {
  return Object.assign(r, { [fc.toStringMethod]: () => show(r) });
}

function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function firstDifference(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `they differ first at byte ${i}`;
  return `one is a prefix of the other (${a.length} vs ${b.length} bytes)`;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex').slice(0, 16);

// ---------------------------------------------------------------------------------------------------

describe('TLS sidecar in front of the legacy app', () => {
  it('answers every request exactly as the app answers it directly, and tells the app it was https', async () => {
    const sc = await main();
    await checkAsyncProperty(
      'through the sidecar, a request gets the same status, end-to-end headers and body as sent directly to the app; ' +
        'the app receives it once, with the same method, target, headers and body, X-Forwarded-Proto: https, ' +
        'X-Forwarded-For ending in the client address, and no hop-by-hop headers',
      [requestArb],
      async (r) => {
        const idDirect = nextId('direct');
        const idVia = nextId('via');
        const direct = await httpCall(callOf(r, app.port, idDirect));
        const via = await httpCall(callOf(r, sc.port, idVia, trustA));
        if (via.status !== direct.status) throw new Error(`the app answers ${direct.status}, but the sidecar answered ${via.status}`);
        const want = endToEnd(direct.rawHeaders);
        const got = endToEnd(via.rawHeaders);
        for (const [name, values] of want) {
          const g = got.get(name) ?? [];
          if (JSON.stringify(g) !== JSON.stringify(values)) throw new Error(`response header ${name}: the app sends ${JSON.stringify(values)}, the sidecar passed on ${JSON.stringify(g)}`);
        }
        if (got.has('x-legacy-hop')) throw new Error("the app's hop-by-hop response header x-legacy-hop (named in its Connection header) was passed on to the client");
        if (!via.body.equals(direct.body)) throw new Error(`response bodies differ: the app sends ${direct.body.length} bytes, the sidecar passed on ${via.body.length}; ${firstDifference(direct.body, via.body)}`);

        const seen = app.log.filter((e) => e.id === idVia);
        if (seen.length !== 1) throw new Error(`the app received this request ${seen.length} times, expected exactly once`);
        const up = seen[0]!;
        if (up.method !== r.method || up.url !== r.path) throw new Error(`the app received ${up.method} ${up.url}, the client sent ${r.method} ${r.path}`);
        const upPairs = rawPairs(up.rawHeaders);
        const values = (name: string) => upPairs.filter(([k]) => k === name).map(([, v]) => v);
        for (const name of ['x-test-a', 'x-test-b', 'x-test-c']) {
          const sent = r.headers.filter(([k]) => k === name).map(([, v]) => v);
          if (values(name).join(', ') !== sent.join(', ')) throw new Error(`request header ${name}: the client sent ${JSON.stringify(sent)}, the app received ${JSON.stringify(values(name))}`);
        }
        const body = bodyOf(up);
        const sentBody = Buffer.from(r.body ?? new Uint8Array());
        if (!body.equals(sentBody)) throw new Error(`request bodies differ: the client sent ${sentBody.length} bytes, the app received ${body.length}; ${firstDifference(sentBody, body)}`);
        const proto = values('x-forwarded-proto');
        if (proto.length !== 1 || proto[0] !== 'https') throw new Error(`the app received X-Forwarded-Proto ${JSON.stringify(proto)}; it must be exactly one value, "https" (a client's own value must not survive)`);
        const xff = values('x-forwarded-for').join(', ');
        const wantXff = r.xff === null ? '127.0.0.1' : `${r.xff}, 127.0.0.1`;
        if (xff !== wantXff) throw new Error(`the app received X-Forwarded-For "${xff}", expected "${wantXff}" (the client's list with the client's address appended)`);
        for (const h of ['proxy-authorization', 'x-hop-secret', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) {
          if (values(h).length > 0) throw new Error(`the hop-by-hop request header ${h} reached the app (value ${JSON.stringify(values(h))})`);
        }
        const host = values('host');
        if (host.length !== 1 || host[0] !== `127.0.0.1:${sc.port}`) throw new Error(`the app received Host ${JSON.stringify(host)}; the sidecar must keep the client's Host (127.0.0.1:${sc.port})`);
      },
      {
        seed: 201,
        numRuns: 30,
        examples: [
          [readable({ method: 'GET', path: '/echo?status=200', headers: [['x-test-a', 'one']], hopHeaders: true, xff: null, body: null, chunked: false })],
          [readable({ method: 'POST', path: '/echo/caf%C3%A9?status=201&hop=1', headers: [['x-test-a', '1'], ['x-test-a', '2']], hopHeaders: false, xff: '203.0.113.9', body: new Uint8Array([0, 255, 13, 10, 0]), chunked: true })],
        ],
      },
    );
  });

  it('keeps a client connection open for many requests (keep-alive)', async () => {
    const sc = await main();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.caA });
    const used = new Set<number>();
    try {
      for (let i = 0; i < 5; i++) {
        const r = await httpCall({ port: sc.port, path: `/echo?status=200&n=${i}`, tls: trustA, agent });
        if (r.status !== 200) violated('the sidecar serves several requests on one kept-alive TLS connection', `5 sequential GET /echo over one keep-alive https.Agent`, `request ${i + 1} got status ${r.status}`);
        used.add(r.connection);
      }
    } finally {
      agent.destroy();
    }
    holds(used.size === 1, 'the sidecar serves several requests on one kept-alive TLS connection', '5 sequential GET /echo over one keep-alive https.Agent (maxSockets 1)', () =>
      `the 5 requests needed ${used.size} TLS connections: the sidecar closed the client connection after a response (do not copy the app's Connection header, and do not send Connection: close)`,
    );
  });

  it('streams the response: the first bytes reach the client before the app has finished', async () => {
    const sc = await main();
    const call = openCall({ port: sc.port, path: '/drip', tls: trustA, timeoutMs: 5000 });
    call.req.end();
    try {
      const first = await Promise.race([
        call.response.then((res) => new Promise<string>((resolve) => res.once('data', (d: Buffer) => resolve(d.toString())))),
        patientSleep(1500).then(() => null),
      ]);
      holds(first !== null, 'the sidecar streams responses: each chunk from the app is passed on as it arrives', 'GET /drip: the app sends "first chunk\\n" at once, and the rest only later', () =>
        'after 1.5 s the client had not received a single byte, though the app sent its first chunk at once: the sidecar is holding the response until the app finishes (buffering)',
      );
      app.release();
      const res = await call.response;
      const rest: Buffer[] = [Buffer.from(first!)];
      await new Promise<void>((resolve, reject) => {
        res.on('data', (d: Buffer) => rest.push(d));
        res.once('end', resolve);
        res.once('error', reject);
      });
      const text = Buffer.concat(rest).toString();
      holds(text === 'first chunk\nrest of the response\n', 'the sidecar streams responses without changing them', 'GET /drip', () => `the client received ${JSON.stringify(text)}`);
    } finally {
      call.destroy();
    }
  });

  it('streams the request: the app sees the body before the client has finished sending it', async () => {
    const sc = await main();
    const id = nextId('upload');
    const call = openCall({ port: sc.port, method: 'POST', path: '/echo?status=200', headers: { 'x-test-id': id }, tls: trustA, timeoutMs: 5000 });
    try {
      call.req.write('part one;');
      const seen = await app.waitForBody(id, 1500);
      holds(seen, 'the sidecar streams request bodies: each chunk from the client is passed on as it arrives', 'POST /echo, chunked; the client sends "part one;" and waits before sending the rest', () =>
        'after 1.5 s the app had not received a byte of the body: the sidecar is holding the request until the client finishes (buffering)',
      );
      call.req.end('part two');
      const res = await call.response;
      const got: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        res.on('data', (d: Buffer) => got.push(d));
        res.once('end', resolve);
        res.once('error', reject);
      });
      holds(Buffer.concat(got).toString() === 'part one;part two', 'the sidecar streams request bodies without changing them', 'POST /echo with "part one;" then "part two"', () => `the echo came back as ${JSON.stringify(Buffer.concat(got).toString())}`);
    } finally {
      call.destroy();
    }
  });

  it('carries a 5 MB binary body both ways unchanged', async () => {
    const sc = await main();
    const body = randomBytes(5 * 1024 * 1024);
    const id = nextId('big');
    const r = await httpCall({ port: sc.port, method: 'POST', path: '/echo?status=200&cl=1', headers: { 'x-test-id': id, 'content-length': String(body.length) }, body, tls: trustA, timeoutMs: 10_000 });
    const up = app.log.find((e) => e.id === id);
    holds(up !== undefined && up.bytes === body.length, 'large bodies reach the app whole', 'POST /echo with a 5 MB random body', () => `the app received ${up?.bytes ?? 0} bytes`);
    holds(r.status === 200 && r.body.equals(body), 'large bodies come back whole', 'POST /echo?cl=1 with a 5 MB random body (echoed with a content-length)', () =>
      `status ${r.status}, ${r.body.length} bytes back (sha256 ${sha(r.body)} vs ${sha(body)}); ${firstDifference(body, r.body)}`,
    );
  });

  it('serves 100 concurrent connections, each getting its own answer', async () => {
    const sc = await main();
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => httpCall({ port: sc.port, method: 'POST', path: `/echo?status=200&i=${i}`, body: `request number ${i}`, tls: trustA, timeoutMs: 8000 }).catch((e: Error) => e)),
    );
    replies.forEach((r, i) => {
      const ok = !(r instanceof Error) && r.status === 200 && r.body.toString() === `request number ${i}`;
      holds(ok, 'the sidecar serves many clients at once, each with its own response', '100 concurrent TLS connections, each POST /echo with its own body', () =>
        r instanceof Error ? `connection ${i} failed: ${r.message}` : `connection ${i} got status ${r.status} and body ${JSON.stringify(r.body.toString().slice(0, 60))}`,
      );
    });
  });

  it('refuses plaintext HTTP and TLS older than 1.2 on the TLS port, and they never reach the app', async () => {
    const sc = await main();
    const before = app.hits();
    const plain = await rawExchange(sc.port, 'GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    holds(!/^HTTP\/1\.[01] 2/.test(plain) && app.hits() === before, 'plain HTTP sent to the TLS port fails and never reaches the app', 'GET /echo in plaintext on the TLS port', () =>
      `the client got ${JSON.stringify(plain.slice(0, 40))} and the app counted ${app.hits() - before} request(s)`,
    );
    const old = await tlsHandshake({ port: sc.port, ca: pki.caA, maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
    holds(old !== 'connected', 'handshakes older than TLS 1.2 are refused', 'a client offering at most TLSv1.1', () => 'the handshake succeeded');
    const strict = await startExtra({ minVersion: 'TLSv1.3' });
    const v12 = await tlsHandshake({ port: strict.port, ca: pki.caA, maxVersion: 'TLSv1.2' });
    holds(v12 !== 'connected', 'with minVersion TLSv1.3, TLS 1.2 handshakes are refused', 'sidecar started with minVersion: "TLSv1.3"; a client offering at most TLSv1.2', () => 'the handshake succeeded: pass minVersion to the TLS server');
    const v13 = await callFails({ port: strict.port, path: '/echo?status=200', tls: trustA });
    holds(!v13.failed && v13.reply.status === 200, 'with minVersion TLSv1.3, TLS 1.3 clients are served', 'GET /echo over TLS 1.3', () => (v13.failed ? v13.error.message : `status ${v13.reply.status}`));
    holds(app.hits() === before + 1, 'refused connections never reach the app', 'the plaintext and old-TLS attempts above', () => `the app counted ${app.hits() - before - 1} extra request(s)`);
  });

  it('presents exactly the certificate it was given', async () => {
    const sc = await main();
    const r = await httpCall({ port: sc.port, path: '/', tls: trustA });
    holds(r.peerSerial === certSerial(pki.server.cert) && r.body.toString().includes('Legacy inventory'), 'the sidecar serves the legacy app under the certificate it was given', 'GET / with CA-A trusted', () =>
      `serial ${r.peerSerial}, expected ${certSerial(pki.server.cert)}; body ${JSON.stringify(r.body.toString().slice(0, 80))}`,
    );
    const other = await startExtra({ key: pki.server2.key, cert: pki.server2.cert });
    const r2 = await httpCall({ port: other.port, path: '/', tls: trustA });
    holds(r2.peerSerial === certSerial(pki.server2.cert), 'the sidecar serves the certificate it was given', 'a sidecar started with the second server certificate', () => `the client saw serial ${r2.peerSerial}, expected ${certSerial(pki.server2.cert)}`);
    const wrong = await startExtra({ key: pki.wrongSan.key, cert: pki.wrongSan.cert });
    const r3 = await callFails({ port: wrong.port, path: '/', tls: trustA });
    holds(r3.failed && /ALTNAME|altname|does not match/i.test(`${r3.error.code} ${r3.error.message}`), 'a verifying client refuses a certificate for another name', 'a sidecar serving a certificate for wrong.example, reached as 127.0.0.1', () =>
      r3.failed ? `it failed, but not on the name: ${r3.error.message}` : 'the client accepted it',
    );
  });

  it('with requireClientCert, accepts only client certificates that chain to clientCa and are valid', async () => {
    const m = await startExtra({ requireClientCert: true, clientCa: pki.caA });
    const cases: Array<[string, TlsClientOptions]> = [
      ['no client certificate', { ca: pki.caA }],
      ['a client certificate signed by CA-B (another CA)', { ca: pki.caA, cert: pki.clientB.cert, key: pki.clientB.key }],
      ['an expired client certificate signed by CA-A', { ca: pki.caA, cert: pki.expiredClient.cert, key: pki.expiredClient.key }],
    ];
    for (const [what, t] of cases) {
      const before = app.hits();
      const r = await callFails({ port: m.port, path: '/echo?status=200', tls: t });
      holds((r.failed || r.reply.status >= 400) && app.hits() === before, 'mutual TLS: a client without a valid certificate from clientCa is refused and never reaches the app', `sidecar with requireClientCert and clientCa = CA-A; a client presenting ${what}`, () =>
        r.failed ? `the request failed, but the app still counted ${app.hits() - before} request(s)` : `the client got status ${r.reply.status} and the app counted ${app.hits() - before} request(s): certificates must be verified (never rejectUnauthorized: false)`,
      );
    }
    const good = await callFails({ port: m.port, path: '/echo?status=200', tls: { ca: pki.caA, cert: pki.client.cert, key: pki.client.key } });
    holds(!good.failed && good.reply.status === 200, 'mutual TLS: a client with a valid certificate from clientCa is served', 'sidecar with requireClientCert and clientCa = CA-A; a client presenting its CA-A certificate', () =>
      good.failed ? good.error.message : `status ${good.reply.status}`,
    );
  });

  it('redirects plain HTTP to https on the redirect port', async () => {
    const s = await startExtra({ redirectHttpPort: 0 });
    holds(typeof s.redirectPort === 'number' && s.redirectPort > 0, 'with redirectHttpPort, the sidecar listens for plain HTTP and reports redirectPort', 'startTlsSidecar({ ..., redirectHttpPort: 0 })', () => `redirectPort is ${String(s.redirectPort)}`);
    const before = app.hits();
    const r = await httpCall({ port: s.redirectPort!, path: '/echo/a?x=1', headers: { host: `127.0.0.1:${s.redirectPort}` } });
    const want = `https://127.0.0.1:${s.port}/echo/a?x=1`;
    holds(r.status === 301 && r.headers.location === want && app.hits() === before, 'plain HTTP on the redirect port gets a 301 to the same path on the TLS port, and never reaches the app', `GET http://127.0.0.1:${s.redirectPort}/echo/a?x=1`, () =>
      `status ${r.status}, Location ${JSON.stringify(r.headers.location)} (expected ${want}), ${app.hits() - before} request(s) reached the app`,
    );
  });

  it('answers 502 within a second when the app is down', async () => {
    const dead = await freePort();
    const s = await startTlsSidecar({ listenPort: 0, upstream: { host: '127.0.0.1', port: dead }, key: pki.server.key, cert: pki.server.cert });
    extra.push(s);
    const t0 = Date.now();
    const r = await callFails({ port: s.port, path: '/echo?status=200', tls: trustA, timeoutMs: 3000 });
    const ms = Date.now() - t0;
    holds(!r.failed && r.reply.status === 502 && ms < 1000, 'when the app refuses connections, the client gets a 502 within 1 s', `GET /echo through a sidecar whose upstream port ${dead} has nothing listening`, () =>
      r.failed ? `the request failed after ${ms} ms instead: ${r.error.message}` : `status ${r.reply.status} after ${ms} ms`,
    );
  });

  it('drops the upstream request when the client goes away mid-response', async () => {
    const sc = await main();
    const before = app.inFlight();
    const call = openCall({ port: sc.port, path: '/drip', tls: trustA, timeoutMs: 5000 });
    call.req.end();
    try {
      const answering = await waitFor(() => app.inFlight() === before + 1, 1500);
      holds(answering, 'the sidecar forwards a request to the app', 'GET /drip', () => `1.5 s after the request the app had ${app.inFlight() - before} requests open from it`);
      await new Promise((r) => setTimeout(r, 20)); // let the first chunk travel, so the hang-up is mid-response
    } finally {
      call.destroy(); // the client hangs up while the app is still sending
    }
    const closed = await waitFor(() => app.inFlight() === before, 1000);
    holds(closed, "when a client hangs up mid-response, the sidecar destroys its upstream request (the app's open requests return to 0)", 'GET /drip; while the app is still sending, the client closes its connection', () =>
      `1 s after the client hung up, the app still had ${app.inFlight() - before} request(s) open from the sidecar: destroy the upstream request when the client's response closes early`,
    );
  });
});

/** Sends raw bytes to a port and returns what came back before the connection closed (or 1 s passed). */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.write(text));
    const done = () => {
      cancel();
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const cancel = patientTimeout(1000, done);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', done);
    s.on('close', done);
  });
}

/** A TLS handshake only: 'connected', or the error code that stopped it. */
function tlsHandshake(o: tls.ConnectionOptions & { port: number }): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', ...o });
    const cancel = patientTimeout(2000, () => finish('timeout'));
    function finish(v: string) {
      cancel();
      s.destroy();
      resolve(v);
    }
    s.once('secureConnect', () => {
      // TLS 1.3 servers refuse after the client's Finished; wait a moment for an alert.
      setTimeout(() => finish(s.destroyed ? 'closed' : 'connected'), 50);
    });
    s.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? 'error'));
  });
}


describe('cleanup', () => {
  it('close() releases every socket, on both sides, and the process holds no open handle', closeAndCheck);
});
