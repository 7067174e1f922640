// The worlds `dlab run <id>` starts for the socket exercises: the exercise's code plus the servers around
// it, on loopback, with the commands to try it with real clients (curl, openssl).
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { startKvShard, type KvShard } from './kv-shard.ts';
import { startLegacyApp, type LegacyApp } from './legacy-app.ts';
import { certSerial, type KeyPair, type Pki } from './pki.ts';
import { listenTracked, type Tracked } from './tracked-server.ts';
import { serializeXml, xmlElement } from './xml-lite.ts';

export interface WorldContext {
  readonly pki: Pki;
  /** Prints one line while the world runs (requests seen, rotations). */
  readonly log: (line: string) => void;
}

export interface RunningWorld {
  /** What to print once everything listens: the ports and the commands to try. */
  readonly banner: readonly string[];
  /** Stops every server, socket and timer of the world. */
  close(): Promise<void>;
}

/** Starts one exercise's world from the module that implements it (the learner's stub or the reference). */
export type WorldStarter = (impl: Readonly<Record<string, unknown>>, ctx: WorldContext) => Promise<RunningWorld>;

/** A world that is missing an export the exercise should have. */
export class WorldError extends Error {}

function fn<T>(impl: Readonly<Record<string, unknown>>, name: string): T {
  const f = impl[name];
  if (typeof f !== 'function') throw new WorldError(`the exercise does not export a function or class named ${name}`);
  return f as T;
}

/** Runs the starters in order; if one fails, closes what already started and rethrows. */
async function building(steps: (add: (close: () => Promise<void>) => void) => Promise<readonly string[]>): Promise<RunningWorld> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const banner = await steps((c) => closers.push(c));
    return { banner, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const short = (s: string, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

// ---------------------------------------------------------------------------------------------------

interface SidecarLike {
  readonly port: number;
  readonly redirectPort?: number;
  close(): Promise<void>;
}
type StartSidecar = (o: Record<string, unknown>) => Promise<SidecarLike>;

const sidecarWorld: WorldStarter = (impl, { pki, log }) =>
  building(async (add) => {
    const start = fn<StartSidecar>(impl, 'startTlsSidecar');
    const app: LegacyApp = await startLegacyApp({
      onRequest: (r) => log(`legacy app ← ${r.method} ${short(r.url)}   X-Forwarded-Proto: ${String(r.headers['x-forwarded-proto'] ?? '-')}, X-Forwarded-For: ${String(r.headers['x-forwarded-for'] ?? '-')}`),
    });
    add(() => app.close());
    const base = { upstream: { host: '127.0.0.1', port: app.port }, key: pki.server.key, cert: pki.server.cert };
    const tls = await start({ ...base, listenPort: 0, redirectHttpPort: 0 });
    add(() => tls.close());
    const mtls = await start({ ...base, listenPort: 0, requireClientCert: true, clientCa: pki.caA });
    add(() => mtls.close());
    const ca = pki.paths.caA;
    const p = pki.paths;
    return [
      'The legacy app and your TLS sidecar are running on 127.0.0.1:',
      `  legacy app, plain HTTP       http://127.0.0.1:${app.port}/`,
      `  sidecar, TLS                 https://127.0.0.1:${tls.port}/   (certificate for localhost and 127.0.0.1, signed by CA-A)`,
      tls.redirectPort !== undefined ? `  sidecar, HTTP → HTTPS        http://127.0.0.1:${tls.redirectPort}/` : '  (no redirect port: your sidecar returned no redirectPort)',
      `  sidecar, mutual TLS          https://127.0.0.1:${mtls.port}/   (client certificates must come from CA-A)`,
      '',
      'Try:',
      `  curl --cacert ${ca} https://127.0.0.1:${tls.port}/`,
      `  curl --cacert ${ca} https://localhost:${tls.port}/echo -d 'hello through TLS' -i`,
      `  curl -v http://127.0.0.1:${tls.port}/                                  # plain HTTP to the TLS port: fails`,
      `  curl https://127.0.0.1:${tls.port}/                                    # without --cacert: the CA is unknown, curl refuses`,
      ...(tls.redirectPort !== undefined ? [`  curl -i http://127.0.0.1:${tls.redirectPort}/some/page?x=1                 # a 301 to https`] : []),
      `  curl --cacert ${ca} --cert ${p.clientCert} --key ${p.clientKey} https://127.0.0.1:${mtls.port}/`,
      `  curl --cacert ${ca} --cert ${p.clientBCert} --key ${p.clientBKey} https://127.0.0.1:${mtls.port}/   # CA-B: refused`,
      `  openssl s_client -connect 127.0.0.1:${tls.port} -CAfile ${ca} -servername localhost -brief </dev/null`,
      `  openssl s_client -connect 127.0.0.1:${tls.port} -CAfile ${ca} -tls1_1 </dev/null   # TLS 1.1: refused`,
    ];
  });

// ---------------------------------------------------------------------------------------------------

interface RouterLike {
  readonly port: number;
  updateMap(m: unknown): void;
  close(): Promise<void>;
}
type StartRouter = (o: Record<string, unknown>) => Promise<RouterLike>;

const routerWorld: WorldStarter = (impl, { log }) =>
  building(async (add) => {
    const start = fn<StartRouter>(impl, 'startShardRouter');
    const shards: KvShard[] = [];
    for (const name of ['shard-a', 'shard-b', 'shard-c']) {
      const s = await startKvShard(name);
      s.onHit = (h) => log(`${name} ← ${h.method} ${h.key !== undefined ? `/kv/${h.key}` : `/scan?prefix=${h.prefix ?? ''}`} → ${h.status}`);
      shards.push(s);
      add(() => s.close());
    }
    const partitions = 12;
    const owner = Array.from({ length: partitions }, (_, p) => shards[p % shards.length]!.url);
    const router = await start({ port: 0, map: { version: 1, partitions, owner }, scatterTimeoutMs: 500 });
    add(() => router.close());
    const r = `http://127.0.0.1:${router.port}`;
    return [
      'Three key-value shards and your router are running on 127.0.0.1:',
      `  router                       ${r}`,
      ...shards.map((s) => `  ${s.name.padEnd(28)} ${s.url}`),
      `  map v1: ${partitions} partitions, partition p → shard ${['a', 'b', 'c'].map((x, i) => `${x} if p % 3 = ${i}`).join(', ')}`,
      '',
      'Try (each shard prints the requests it receives):',
      `  curl -X PUT --data 'hello' ${r}/kv/greeting`,
      `  curl ${r}/kv/greeting`,
      `  curl -X PUT --data 'bonjour' ${r}/kv/greeting-fr`,
      `  curl '${r}/scan?prefix=greeting'`,
      `  curl -X DELETE ${r}/kv/greeting`,
      `  curl ${shards[0]!.url}/kv/greeting                       # ask one shard directly: maybe it is not the owner`,
    ];
  });

// ---------------------------------------------------------------------------------------------------

interface RotatingLike {
  readonly port: number;
  rotate(kp: KeyPair): Promise<void>;
  close(): Promise<void>;
}
type StartRotating = (o: Record<string, unknown>) => Promise<RotatingLike>;
interface CredentialSetLike {
  accept(token: string, now: number): boolean;
  rotate(secret: string, now: number, overlapMs: number): void;
}

const ROTATE_EVERY_MS = 20_000;
const KEY_OVERLAP_MS = 15_000;

const rotationWorld: WorldStarter = (impl, { pki, log }) =>
  building(async (add) => {
    const start = fn<StartRotating>(impl, 'startRotatingTlsServer');
    const Creds = fn<new (initial: string) => CredentialSetLike>(impl, 'CredentialSet');
    const newKey = () => `key-${randomBytes(6).toString('hex')}`;
    let apiKey = newKey();
    const creds = new Creds(apiKey);
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const ok = creds.accept(token, Date.now());
      log(`server ← ${req.method} ${short(req.url ?? '/')} with ${token === '' ? 'no API key' : token} → ${ok ? 200 : 401}`);
      // The certificate this connection was set up with: older connections keep theirs across a rotation.
      const serial = (req.socket as TLSSocket).getCertificate?.();
      const shownSerial = serial !== null && serial !== undefined && 'serialNumber' in serial ? String(serial.serialNumber).toUpperCase() : '?';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
      res.end(ok ? `hello, over a connection that got certificate serial ${shownSerial}\n` : 'unknown or retired API key\n');
    };
    const certs = [pki.server, pki.server2, pki.server3];
    let current = certs[0]!;
    const server = await start({ port: 0, key: current.key, cert: current.cert, handler });
    add(() => server.close());
    let n = 0;
    const timer = setInterval(() => {
      current = certs[++n % certs.length]!;
      const old = apiKey;
      apiKey = newKey();
      creds.rotate(apiKey, Date.now(), KEY_OVERLAP_MS);
      server.rotate(current).then(
        () => log(`rotated: certificate serial ${certSerial(current.cert)}; API key ${apiKey} (${old} still works for ${KEY_OVERLAP_MS / 1000} s)`),
        (e: Error) => log(`rotate() failed: ${e.message}`),
      );
    }, ROTATE_EVERY_MS);
    add(async () => clearInterval(timer));
    const ca = pki.paths.caA;
    return [
      'Your rotating TLS server is running on 127.0.0.1:',
      `  https://127.0.0.1:${server.port}/   certificate serial ${certSerial(current.cert)}, API key ${apiKey}`,
      `  every ${ROTATE_EVERY_MS / 1000} s it rotates the certificate and the API key (the old key keeps working for ${KEY_OVERLAP_MS / 1000} s)`,
      '',
      'Try:',
      `  curl --cacert ${ca} -H 'Authorization: Bearer ${apiKey}' https://127.0.0.1:${server.port}/`,
      `  openssl s_client -connect 127.0.0.1:${server.port} -CAfile ${ca} </dev/null 2>/dev/null | openssl x509 -noout -serial`,
      `  while sleep 1; do curl -s --cacert ${ca} -H 'Authorization: Bearer ${apiKey}' https://127.0.0.1:${server.port}/; done`,
      '  (the loop keeps working across a rotation, and fails 15 s after the key changed: use the new key it prints)',
    ];
  });

// ---------------------------------------------------------------------------------------------------

interface GatewayLike {
  readonly port: number;
  close(): Promise<void>;
}
interface RegistryLike {
  register(svc: string, inst: { id: string; url: string }, ttlMs: number, now: number): void;
  heartbeat(svc: string, id: string, now: number): boolean;
}
type StartGateway = (o: Record<string, unknown>) => Promise<GatewayLike>;

/** A demo service instance: answers in its own format with who it is and what it received. */
async function demoService(svc: string, id: string, format: 'json' | 'xml', log: (l: string) => void): Promise<Tracked> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      log(`${id} ← ${req.method} ${short(req.url ?? '/')} ${body === '' ? '' : `(${req.headers['content-type'] ?? '?'}) ${short(body.replace(/\s+/g, ' '), 80)}`}`);
      if (format === 'xml') {
        const doc = xmlElement('doc', { type: 'object' }, [
          xmlElement('service', {}, svc),
          xmlElement('instance', {}, id),
          xmlElement('path', {}, req.url ?? '/'),
          xmlElement('received', {}, body),
        ]);
        res.writeHead(200, { 'content-type': 'application/xml' }).end(serializeXml(doc, { declaration: true }) + '\n');
      } else {
        let received: unknown = body;
        try {
          received = body === '' ? null : JSON.parse(body);
        } catch {
          /* keep the text */
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service: svc, instance: id, path: req.url ?? '/', received }) + '\n');
      }
    });
  });
  return listenTracked(server);
}

const gatewayWorld: WorldStarter = (impl, { log }) =>
  building(async (add) => {
    const start = fn<StartGateway>(impl, 'startGateway');
    const Reg = fn<new () => RegistryLike>(impl, 'Registry');
    const translatorFor = fn<(f: 'json' | 'xml') => unknown>(impl, 'translatorFor');
    const registry = new Reg();
    const instances: Array<{ svc: string; id: string; format: 'json' | 'xml' }> = [
      { svc: 'orders', id: 'orders-1', format: 'xml' },
      { svc: 'orders', id: 'orders-2', format: 'xml' },
      { svc: 'users', id: 'users-1', format: 'json' },
    ];
    const ttlMs = 3000;
    for (const i of instances) {
      const t = await demoService(i.svc, i.id, i.format, log);
      add(() => t.close());
      registry.register(i.svc, { id: i.id, url: `http://127.0.0.1:${t.port}` }, ttlMs, Date.now());
    }
    // An instance that crashed without deregistering: its port refuses connections.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    registry.register('orders', { id: 'orders-crashed', url: `http://127.0.0.1:${deadPort}` }, ttlMs, Date.now());
    const beat = setInterval(() => {
      for (const i of instances) registry.heartbeat(i.svc, i.id, Date.now());
    }, 1000);
    add(async () => clearInterval(beat));
    const gw = await start({ port: 0, registry, translators: { orders: translatorFor('xml'), users: translatorFor('json') } });
    add(() => gw.close());
    const g = `http://127.0.0.1:${gw.port}`;
    return [
      'Your gateway, a registry and three service instances are running on 127.0.0.1:',
      `  gateway                      ${g}/svc/<service>/...`,
      '  orders (speaks XML)          orders-1, orders-2, and orders-crashed (registered, then died: its lease lapses in 3 s)',
      '  users  (speaks JSON)         users-1',
      '  live instances heartbeat every second, with a 3 s lease',
      '',
      'Try:',
      `  curl -H 'Accept: application/json' ${g}/svc/orders/42`,
      `  curl -H 'Accept: application/xml' ${g}/svc/orders/42`,
      `  curl -X POST -H 'Content-Type: application/json' -H 'Accept: application/json' -d '{"item":"book","qty":2,"tags":["gift"]}' ${g}/svc/orders/`,
      `  curl -X POST -H 'Content-Type: application/xml' -H 'Accept: application/xml' -d '<doc type="object"><name>Ada</name></doc>' ${g}/svc/users/`,
      `  curl -i ${g}/svc/payments/1                        # not a service of this gateway: 404`,
      `  for i in 1 2 3 4; do curl -s -H 'Accept: application/json' ${g}/svc/orders/$i; done   # spread over the instances`,
    ];
  });

/** The world of each socket exercise, by exercise id. */
export const WORLDS: Readonly<Record<string, WorldStarter>> = {
  '02-infrastructure-patterns/01-sidecar-tls': sidecarWorld,
  '02-infrastructure-patterns/02-shard-router': routerWorld,
  '02-infrastructure-patterns/03-secret-rotation': rotationWorld,
  '02-infrastructure-patterns/04-api-gateway': gatewayWorld,
};
