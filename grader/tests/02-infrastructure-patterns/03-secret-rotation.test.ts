// Hidden tests for 02-infrastructure-patterns/03-secret-rotation: certificate and CA rotation on a live TLS
// server under load (judged by what clients see), and API-key rotation against a model of the rules.
import fc from 'fast-check';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkProperty, holds, violated } from '@dlab/harness';
import { callFails, certSerial, httpCall, leakGuard, loadPki, waitFor, within, type Pki, type TlsClientOptions } from '@dlab/harness/net';
import { CredentialSet, startRotatingTlsServer, type RotatingServer, type RotatingServerOptions } from '@impl/02-infrastructure-patterns/03-secret-rotation';

let pki: Pki;
const leaks = leakGuard('02.3 secret-rotation');
const servers: RotatingServer[] = [];
const agents: https.Agent[] = [];
const timers = new Set<NodeJS.Timeout>();

/** The application behind the TLS server: /hello answers at once, /slow after 150 ms. */
function app(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  if (req.url === '/slow') {
    const t = setTimeout(() => {
      timers.delete(t);
      res.end('slow');
    }, 150);
    timers.add(t);
    res.once('close', () => {
      clearTimeout(t);
      timers.delete(t);
    });
    return;
  }
  res.end('hello');
}

async function start(opts: Partial<RotatingServerOptions> = {}): Promise<RotatingServer> {
  const s = await startRotatingTlsServer({ port: 0, key: pki.server.key, cert: pki.server.cert, handler: app, ...opts });
  servers.push(s);
  return s;
}

function agent(tlsOpts: TlsClientOptions): https.Agent {
  const a = new https.Agent({ keepAlive: true, maxSockets: 1, ...tlsOpts });
  agents.push(a);
  return a;
}

beforeAll(() => {
  leaks.start();
  pki = loadPki();
});

async function closeAll(): Promise<void> {
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(servers.splice(0).map((s) => within(s.close(), 2000, 'close() did not resolve within 2 s').catch(() => undefined)));
  for (const t of timers) clearTimeout(t);
  timers.clear();
}

afterEach(closeAll);

afterAll(async () => {
  await closeAll();
  await leaks.final();
});

const serial = (which: 'server' | 'server2' | 'server3') => certSerial(pki[which].cert);

describe('certificate rotation on a live server', () => {
  it('rotate() under continuous load fails no request', async () => {
    const s = await start();
    const trust = { ca: pki.caA };
    const example = '50 keep-alive clients sending GET /hello in a loop, one GET /slow (150 ms) in flight; rotate() to a second certificate, 100 more requests, rotate() to a third';
    let stop = false;
    let ok = 0;
    const errors: string[] = [];
    const clients = Array.from({ length: 50 }, () => agent(trust));
    const loops = clients.map(async (a) => {
      while (!stop) {
        try {
          const r = await httpCall({ port: s.port, path: '/hello', tls: trust, agent: a, timeoutMs: 3000 });
          if (r.status === 200) ok++;
          else errors.push(`status ${r.status}`);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    });
    let slowResult: Awaited<ReturnType<typeof callFails>> | undefined;
    let rotateProblem: string | undefined;
    let afterLast = 0;
    try {
      // Counting requests rather than milliseconds keeps this fair on a slow or busy machine.
      await waitFor(() => ok >= 100 || errors.length > 0, 3000);
      // A request that is still being answered while the certificate changes.
      const slow = callFails({ port: s.port, path: '/slow', tls: trust, timeoutMs: 3000 });
      await new Promise((r) => setTimeout(r, 10));
      for (const next of [pki.server2, pki.server3]) {
        try {
          await within(s.rotate(next), 2000, 'rotate() did not resolve within 2 s');
        } catch (e) {
          rotateProblem = (e as Error).message;
          break;
        }
        const mark = ok;
        await waitFor(() => ok >= mark + 100 || errors.length > 0, 2000);
        afterLast = ok - mark;
      }
      slowResult = await slow;
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    holds(errors.length === 0, 'rotating the certificate under load fails no request', example, () =>
      `${errors.length} of ${errors.length + ok} requests failed, first: ${errors[0]} (restarting the listener cuts open connections and refuses new ones meanwhile)`,
    );
    holds(rotateProblem === undefined, 'rotate() finishes promptly under load', example, () => `${rotateProblem}`);
    holds(slowResult !== undefined && !slowResult.failed && slowResult.reply.body.toString() === 'slow', 'a request in flight during a rotation completes', example, () =>
      slowResult === undefined ? 'GET /slow never finished' : slowResult.failed ? `GET /slow failed: ${slowResult.error.message}` : `GET /slow got ${slowResult.reply.status} ${JSON.stringify(slowResult.reply.body.toString())}`,
    );
    holds(afterLast >= 100, 'the server keeps serving after a rotation', example, () => `only ${afterLast} requests succeeded in the 2 s after the last rotate()`);
  });

  it('open connections keep their certificate; new connections get the new one', async () => {
    const s = await start();
    const a = agent({ ca: pki.caA });
    const before = await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    await s.rotate(pki.server2);
    const example = 'GET /hello on a keep-alive connection; rotate() to the second certificate; GET /hello on the same agent, then on a new connection';
    const same = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    holds(!same.failed && same.reply.connection === before.connection && same.reply.peerSerial === serial('server'), 'a rotation leaves open connections alone: they keep working, with the certificate they started with', example, () =>
      same.failed ? `the kept-alive connection failed after rotate(): ${same.error.message}` : same.reply.connection !== before.connection ? 'the kept-alive connection was closed by rotate(), the client had to reconnect' : `it now shows serial ${same.reply.peerSerial}`,
    );
    const fresh = await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
    holds(fresh.peerSerial === serial('server2'), 'new connections present the new certificate as soon as rotate() resolves', example, () => `a new connection saw serial ${fresh.peerSerial}, expected ${serial('server2')}`);
  });

  it('two rotations in quick succession end with the last certificate; a mismatched key is refused', async () => {
    const s = await start();
    await Promise.all([s.rotate(pki.server2), s.rotate(pki.server3)]);
    const r = await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
    holds(r.peerSerial === serial('server3'), 'rotating twice within 100 ms is safe: the last rotation wins', 'rotate(second) and rotate(third) started together', () => `new connections present serial ${r.peerSerial}, expected ${serial('server3')}`);
    let rejected = false;
    await s.rotate({ key: pki.server2.key, cert: pki.server.cert }).catch(() => (rejected = true));
    const after = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
    holds(rejected && !after.failed && after.reply.peerSerial === serial('server3'), 'rotate() with a key that does not match the certificate rejects and keeps serving the current certificate', "rotate({ key: second server's key, cert: first server's certificate })", () =>
      !rejected ? 'rotate() resolved' : after.failed ? `afterwards new connections fail: ${after.error.message}` : `afterwards new connections see serial ${after.reply.peerSerial}`,
    );
  });

  it('swaps the trusted client CAs without a restart, and keeps them across certificate rotations', async () => {
    const s = await start({ clientCas: [pki.caA] });
    const a = { ca: pki.caA, cert: pki.client.cert, key: pki.client.key };
    const b = { ca: pki.caA, cert: pki.clientB.cert, key: pki.clientB.key };
    const none = { ca: pki.caA };
    const served = async (t: TlsClientOptions) => {
      const r = await callFails({ port: s.port, path: '/hello', tls: t });
      return !r.failed && r.reply.status === 200;
    };
    const expect = async (step: string, want: { a: boolean; b: boolean }) => {
      const got = { a: await served(a), b: await served(b), none: await served(none) };
      holds(got.a === want.a && got.b === want.b && !got.none, 'clients are accepted exactly when their certificate chains to a currently trusted CA (no certificate: never)', step, () =>
        `CA-A client ${got.a ? 'accepted' : 'refused'} (want ${want.a ? 'accepted' : 'refused'}), CA-B client ${got.b ? 'accepted' : 'refused'} (want ${want.b ? 'accepted' : 'refused'}), no certificate ${got.none ? 'accepted' : 'refused'}`,
      );
    };
    await expect('started with clientCas = [CA-A]', { a: true, b: false });
    s.setTrustedClientCAs([pki.caA, pki.caB]);
    await expect('setTrustedClientCAs([CA-A, CA-B]) (the overlap while clients move to CA-B)', { a: true, b: true });
    await s.rotate(pki.server2);
    await expect('setTrustedClientCAs([CA-A, CA-B]), then rotate() the server certificate', { a: true, b: true });
    s.setTrustedClientCAs([pki.caB]);
    await expect('then setTrustedClientCAs([CA-B]) (CA-A retired)', { a: false, b: true });
  });
});

// ---------------------------------------------------------------------------------------------------
// API keys: a model of the rules, and generated histories of rotations, revocations and checks

type KeyOp =
  | { readonly op: 'rotate'; readonly dt: number; readonly overlapMs: number }
  | { readonly op: 'revoke'; readonly dt: number; readonly which: number }
  | { readonly op: 'accept'; readonly dt: number; readonly which: number };

class Model {
  current: string | undefined = 's0';
  retiring = new Map<string, number>();
  revoked = new Set<string>();
  accept(token: string, now: number): boolean {
    if (this.revoked.has(token)) return false;
    if (token === this.current) return true;
    const until = this.retiring.get(token);
    return until !== undefined && now < until;
  }
  rotate(next: string, now: number, overlapMs: number): void {
    if (this.current !== undefined) this.retiring.set(this.current, now + overlapMs);
    this.current = next;
  }
}

const keyOpArb: fc.Arbitrary<KeyOp> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rotate' as const), dt: fc.integer({ min: 0, max: 400 }), overlapMs: fc.constantFrom(0, 100, 250, 1000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), dt: fc.integer({ min: 0, max: 400 }), which: fc.nat({ max: 7 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('accept' as const), dt: fc.integer({ min: 0, max: 400 }), which: fc.nat({ max: 7 }) }) },
);

describe('API-key rotation (CredentialSet)', () => {
  it('accepts exactly the current secret and the replaced ones inside their overlap, never a revoked one', () => {
    checkProperty(
      'accept(s, now) is true exactly when s is not revoked and is either the current secret or a replaced one with ' +
        'now < (time of the rotation that replaced it) + overlapMs; every replaced secret keeps its own window',
      [fc.array(keyOpArb, { minLength: 1, maxLength: 25 })],
      (ops) => {
        const set = new CredentialSet('s0');
        const model = new Model();
        const secrets = ['s0'];
        let now = 0;
        const done: string[] = [];
        for (const o of ops) {
          now += o.dt;
          if (o.op === 'rotate') {
            const next = `s${secrets.length}`;
            secrets.push(next);
            set.rotate(next, now, o.overlapMs);
            model.rotate(next, now, o.overlapMs);
            done.push(`t=${now} rotate(${next}, overlap ${o.overlapMs})`);
          } else {
            const secret = o.which < secrets.length ? secrets[o.which]! : 'never-issued';
            if (o.op === 'revoke') {
              set.revoke(secret);
              model.revoked.add(secret);
              done.push(`t=${now} revoke(${secret})`);
            } else {
              const got = set.accept(secret, now);
              const want = model.accept(secret, now);
              done.push(`t=${now} accept(${secret})`);
              if (got !== want) throw new Error(`after ${done.join(', ')}: accept(${secret}) returned ${got}, expected ${want}`);
            }
          }
        }
        // Finally, every secret ever issued, at the last time and well after every window.
        for (const t of [now, now + 2000]) {
          for (const secret of [...secrets, 'never-issued', '']) {
            const got = set.accept(secret, t);
            const want = model.accept(secret, t);
            if (got !== want) throw new Error(`after ${done.join(', ')}: accept(${JSON.stringify(secret)}) at t=${t} returned ${got}, expected ${want}`);
          }
        }
      },
      {
        seed: 203,
        numRuns: 300,
        examples: [
          [[{ op: 'rotate', dt: 0, overlapMs: 1000 }, { op: 'accept', dt: 10, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 100 }, { op: 'accept', dt: 500, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 1000 }, { op: 'revoke', dt: 10, which: 0 }, { op: 'accept', dt: 10, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 1000 }, { op: 'rotate', dt: 50, overlapMs: 1000 }, { op: 'accept', dt: 10, which: 0 }]],
        ],
      },
    );
  });
});

describe('cleanup', () => {
  it('close() ends every connection, kept-alive ones included, and the process holds no open handle', async () => {
    const s = await start();
    const a = agent({ ca: pki.caA });
    await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    // The client keeps its connection open; close() must end it from the server side.
    await within(s.close(), 2000, 'close() did not resolve within 2 s (a kept-alive connection holds the server open?)').catch((e: Error) =>
      violated('close() ends every connection, kept-alive ones included', 'one kept-alive HTTPS client, then close()', e.message),
    );
    servers.splice(servers.indexOf(s), 1);
    await closeAll();
    await leaks.check();
  });
});
