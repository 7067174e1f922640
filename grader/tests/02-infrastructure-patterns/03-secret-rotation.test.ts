// Hidden tests for 02-infrastructure-patterns/03-secret-rotation: certificate and CA rotation on a live TLS
// server under load (judged by what clients see), following a Secret volume as the kubelet updates it, and
// API-key rotation against a model of the rules.
//
// Load-proof by construction: the load is a number of requests, not a length of time; a request counts as
// failed only when it errors (reset, refused, TLS alert) or gets an error status, never for being slow; and
// every wait is patient (harness/patience.ts) or bounded by progress, so a busy machine cannot fail it.
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { checkProperty, holds, mark, patientElapsedMs, patientSleep, violated } from '@dlab/harness';
import { callFails, certSerial, httpCall, leakGuard, openCall, loadPki, settleWithin, waitFor, within, type KeyPair, type Pki, type TlsClientOptions } from '@dlab/harness/net';
import {
  CredentialSet,
  startRotatingTlsServer,
  watchSecretVolume,
  type RotatingServer,
  type RotatingServerOptions,
  type SecretWatch,
} from '@impl/02-infrastructure-patterns/03-secret-rotation';

let pki: Pki;
const leaks = leakGuard('02.3 secret-rotation');
const servers: RotatingServer[] = [];
const watches: SecretWatch[] = [];
const volumes: SecretVolume[] = [];
const agents: https.Agent[] = [];
const timers = new Set<NodeJS.Timeout>();
let slowArrived = 0;
let uploadsArrived = 0;

/** The application behind the TLS server: /hello answers at once, /slow after 150 ms, /upload once the body ended. */
function app(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  if (req.url === '/upload') {
    uploadsArrived++;
    req.once('end', () => res.end('uploaded'));
    return;
  }
  if (req.url === '/slow') {
    slowArrived++;
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

// ---------------------------------------------------------------------------------------------------
// Everything the API returns settles

const SETTLE_MS = 2000;
const SETTLES = 'everything the API returns settles: startRotatingTlsServer, rotate, watchSecretVolume and close resolve or reject within 2 s';

/** Awaits `p` for at most 2 s of patient time; a promise still pending then fails the test, naming `what`. */
async function settles<T>(p: Promise<T>, what: string, example: string): Promise<T> {
  const r = await settleWithin(p, SETTLE_MS);
  if (r.kind === 'hung') violated(SETTLES, example, `${what} neither resolved nor rejected within ${SETTLE_MS / 1000} s`);
  if (r.kind === 'rejected') throw r.error;
  return r.value;
}

/** rotate() to a valid pair: it must resolve (within 2 s). */
async function rotated(p: Promise<void>, what: string, example: string): Promise<void> {
  const outcome = await settles(
    p.then(
      () => undefined,
      (e: unknown) => e,
    ),
    what,
    example,
  );
  if (outcome !== undefined) violated('rotate() to a key and the certificate it belongs to resolves', example, `${what} rejected: ${outcome instanceof Error ? outcome.message : String(outcome)}`);
}

async function start(example: string, opts: Partial<RotatingServerOptions> = {}): Promise<RotatingServer> {
  const s = await settles(startRotatingTlsServer({ port: 0, key: pki.server.key, cert: pki.server.cert, handler: app, ...opts }), 'startRotatingTlsServer()', example);
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

/** Set once a close() here did not settle: later clean-ups do not wait for one again (the cleanup test reports it). */
let closeHangs = false;

/** Closes what a test left open. close() that never settles is reported by the test that needs it, not here. */
async function closeAll(): Promise<void> {
  for (const a of agents.splice(0)) a.destroy();
  const wait = closeHangs ? 0 : SETTLE_MS;
  const closed = [
    ...(await Promise.all(watches.splice(0).map((w) => settleWithin(w.close(), wait)))),
    ...(await Promise.all(servers.splice(0).map((s) => settleWithin(s.close(), wait)))),
  ];
  if (closed.some((r) => r.kind === 'hung')) closeHangs = true;
  for (const v of volumes.splice(0)) v.remove();
  for (const t of timers) clearTimeout(t);
  timers.clear();
}

afterEach(closeAll);

afterAll(async () => {
  await closeAll();
  await leaks.final();
});

const serial = (which: 'server' | 'server2' | 'server3') => certSerial(pki[which].cert);
const serialName = (s: string | undefined) =>
  s === undefined ? 'none' : s === serial('server') ? 'the first certificate' : s === serial('server2') ? 'the second certificate' : s === serial('server3') ? 'the third certificate' : s;

/** Waits until cond() holds, for as long as progress() keeps growing: false only after `stallMs` of patient time without progress. */
async function whileProgressing(cond: () => boolean, progress: () => number, stallMs: number): Promise<boolean> {
  let last = progress();
  let since = mark();
  for (;;) {
    if (cond()) return true;
    const now = progress();
    if (now !== last) {
      last = now;
      since = mark();
    } else if (patientElapsedMs(since) >= stallMs) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('certificate rotation on a live server', () => {
  it('rotate() under continuous load fails no request', async () => {
    const CLIENTS = 8;
    const PHASE = 32;
    const trust = { ca: pki.caA };
    const example =
      `${CLIENTS} keep-alive HTTPS clients sending GET /hello in a loop, and a GET /slow (answered after 150 ms) in flight; ` +
      `${PHASE} requests, rotate() to a second certificate, ${PHASE} more, rotate() to a third, ${PHASE} more`;
    const s = await start(example);
    let ok = 0;
    const failed: string[] = [];
    let stop = false;
    let aborting = false;
    const clients = Array.from({ length: CLIENTS }, () => agent(trust));
    // Each client sends one request after another until the test has counted enough. A request that fails
    // is one that errors or gets an error status; a slow one is only slow.
    const loops = clients.map(async (a) => {
      while (!stop && failed.length === 0) {
        try {
          const r = await httpCall({ port: s.port, path: '/hello', tls: trust, agent: a, timeoutMs: 60_000 });
          if (r.status === 200) ok++;
          else failed.push(`GET /hello was answered ${r.status}`);
        } catch (e) {
          if (!aborting) failed.push((e as Error).message);
        }
      }
    });
    slowArrived = 0;
    let slow: ReturnType<typeof callFails> | undefined;
    let stalled: string | undefined;
    try {
      // A phase ends after PHASE more successful requests; it can only fail by stalling (no request at all
      // answered for 3 s of patient time), never by being slow.
      const phase = async (what: string) => {
        const target = ok + PHASE;
        if (!(await whileProgressing(() => ok >= target || failed.length > 0, () => ok + failed.length, 3000))) stalled ??= `${what}: ${ok - (target - PHASE)} of ${PHASE} requests answered, then none for 3 s`;
      };
      await phase('before any rotation');
      // A request that is being answered while the certificate changes.
      slow = callFails({ port: s.port, path: '/slow', tls: trust, timeoutMs: 60_000 });
      if (!(await waitFor(() => slowArrived > 0 || failed.length > 0, 3000))) stalled ??= 'GET /slow never reached the application';
      for (const [next, name] of [[pki.server2, 'second'], [pki.server3, 'third']] as const) {
        if (failed.length > 0 || stalled !== undefined) break;
        await rotated(s.rotate(next), `rotate() to the ${name} certificate, under load,`, example);
        await phase(`after rotate() to the ${name} certificate`);
      }
    } finally {
      stop = true;
      // At most one request per client is still out; with nothing else to do, a server answers it at once.
      const answered = await within(Promise.all(loops), 5000, 'pending').then(
        () => true,
        () => false,
      );
      if (!answered) {
        aborting = true;
        stalled ??= 'some requests sent during the rotations were still unanswered 5 s after the load stopped';
        for (const a of agents) a.destroy();
        await Promise.all(loops);
      }
    }
    holds(failed.length === 0, 'rotating the certificate under load fails no request: no reset, no refused connection, no error status', example, () =>
      `${failed.length} request${failed.length === 1 ? '' : 's'} failed (after ${ok} succeeded), first: ${failed[0]} (restarting the listener, or closing connections, cuts requests in flight and refuses new ones meanwhile)`,
    );
    const slowResult = slow === undefined ? undefined : await within(slow, 5000, 'pending').catch(() => undefined);
    holds(slowResult !== undefined && !slowResult.failed && slowResult.reply.body.toString() === 'slow', 'a request being answered during a rotation completes', example, () =>
      slowResult === undefined ? 'GET /slow had no answer 5 s after the load stopped' : slowResult.failed ? `GET /slow failed: ${slowResult.error.message}` : `GET /slow got ${slowResult.reply.status} ${JSON.stringify(slowResult.reply.body.toString())}`,
    );
    holds(stalled === undefined, 'the server keeps answering while and after it rotates', example, () => `${stalled}`);
  });

  it('open connections keep their certificate; new connections get the new one', async () => {
    const example = 'GET /hello on a keep-alive connection; rotate() to the second certificate; GET /hello on the same agent, then on a new connection';
    const s = await start(example);
    const a = agent({ ca: pki.caA });
    const before = await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    await rotated(s.rotate(pki.server2), 'rotate()', example);
    const same = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    holds(!same.failed && same.reply.connection === before.connection && same.reply.peerSerial === serial('server'), 'a rotation leaves open connections alone: they keep working, with the certificate they started with', example, () =>
      same.failed ? `the kept-alive connection failed after rotate(): ${same.error.message}` : same.reply.connection !== before.connection ? 'the kept-alive connection was closed by rotate(), the client had to reconnect' : `it now shows ${serialName(same.reply.peerSerial)}`,
    );
    const fresh = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
    holds(!fresh.failed && fresh.reply.peerSerial === serial('server2'), 'new connections present the new certificate as soon as rotate() resolves', example, () =>
      fresh.failed ? `a new connection failed: ${fresh.error.message}` : `a new connection saw ${serialName(fresh.reply.peerSerial)}, expected the second certificate`,
    );
  });

  it('quick successive rotations end with the last certificate; a mismatched key is refused; an earlier certificate can come back', async () => {
    const s = await start('rotations in quick succession');
    const newSerial = async () => {
      const r = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
      return r.failed ? `a failed connection (${r.error.message})` : serialName(r.reply.peerSerial);
    };
    const example1 = 'rotate(second) and rotate(third) started together';
    await rotated(Promise.all([s.rotate(pki.server2), s.rotate(pki.server3)]).then(() => undefined), 'rotate()', example1);
    const last = await newSerial();
    holds(last === 'the third certificate', 'two rotations started together end with the one started last', example1, () => `new connections see ${last}`);

    const example2 = "then rotate({ key: the second server's key, cert: the first server's certificate })";
    let rejected = false;
    await settles(
      s.rotate({ key: pki.server2.key, cert: pki.server.cert }).catch(() => (rejected = true)),
      'rotate() with a mismatched key',
      example2,
    );
    const after = await newSerial();
    holds(rejected && after === 'the third certificate', 'rotate() with a key that does not match the certificate rejects and keeps serving the current certificate', example2, () =>
      !rejected ? `rotate() resolved (new connections see ${after})` : `after the rejection new connections see ${after}`,
    );

    const example3 = 'then rotate(first): back to the certificate the server started with, then rotate(first) again';
    await rotated(s.rotate(pki.server), 'rotate() back to the first certificate', example3);
    const back = await newSerial();
    await rotated(s.rotate(pki.server), 'rotate() to the certificate already served', example3);
    const again = await newSerial();
    holds(back === 'the first certificate' && again === 'the first certificate', 'a certificate served before can be rotated to again, and rotating to the current one changes nothing', example3, () =>
      `new connections see ${back}, then ${again}`,
    );
  });

  it('swaps the trusted client CAs without a restart, and keeps them across certificate rotations', async () => {
    const s = await start('clientCas = [CA-A]', { clientCas: [pki.caA] });
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
    const trust = (cas: Buffer[], step: string) => {
      try {
        s.setTrustedClientCAs(cas);
      } catch (e) {
        violated('setTrustedClientCAs() replaces the trusted CAs, whatever rotations came before (a rejected rotate() changes nothing)', step, `it threw: ${(e as Error).message}`);
      }
    };
    await expect('started with clientCas = [CA-A]', { a: true, b: false });
    trust([pki.caA, pki.caB], 'setTrustedClientCAs([CA-A, CA-B])');
    await expect('setTrustedClientCAs([CA-A, CA-B]) (the overlap while clients move to CA-B)', { a: true, b: true });
    await rotated(s.rotate(pki.server2), 'rotate()', 'setTrustedClientCAs([CA-A, CA-B]), then rotate()');
    await expect('setTrustedClientCAs([CA-A, CA-B]), then rotate() the server certificate', { a: true, b: true });
    trust([pki.caB], 'then setTrustedClientCAs([CA-B])');
    await expect('then setTrustedClientCAs([CA-B]) (CA-A retired)', { a: false, b: true });
    const rejected = 'then rotate() with a key that does not match its certificate (it rejects), then setTrustedClientCAs([])';
    await settles(s.rotate({ key: pki.server3.key, cert: pki.server2.cert }).catch(() => undefined), 'rotate() with a mismatched key', rejected);
    trust([], rejected);
    await expect(`${rejected} (no CA trusted at all: not the same as "no ca option", which trusts the public roots)`, { a: false, b: false });
    trust([pki.caB, pki.caB, pki.caA], 'then setTrustedClientCAs([CA-B, CA-B, CA-A])');
    await expect('then setTrustedClientCAs([CA-B, CA-B, CA-A]) (a CA listed twice)', { a: true, b: true });
  });
});

// ---------------------------------------------------------------------------------------------------
// A Secret volume, updated the way the kubelet's AtomicWriter updates it (pkg/volume/util/atomic_writer.go):
// the data lives in a hidden timestamped folder; `..data` is a symlink to it; tls.crt and tls.key are
// symlinks to `..data/tls.crt` and `..data/tls.key`. An update writes a new folder, points a new symlink
// `..data_tmp` at it, renames that over `..data` (atomic), and deletes the old folder.

class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'dlab-secret-'));
  private version = 0;

  write(pair: KeyPair): void {
    const ts = `..2026_01_01_00_00_00.${String(++this.version).padStart(9, '0')}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, 'tls.crt'), pair.cert);
    writeFileSync(join(this.dir, ts, 'tls.key'), pair.key);
    let old: string | undefined;
    try {
      old = readlinkSync(join(this.dir, '..data'));
    } catch {
      old = undefined;
    }
    for (const f of ['tls.crt', 'tls.key']) {
      try {
        readlinkSync(join(this.dir, f));
      } catch {
        symlinkSync(join('..data', f), join(this.dir, f));
      }
    }
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (old !== undefined) rmSync(join(this.dir, old), { recursive: true, force: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How many of these kinds of handle keep the process alive now (file watches: FSEventWrap, StatWatcher; timers: Timeout). */
const handles = (...kinds: string[]) => process.getActiveResourcesInfo().filter((r) => kinds.includes(r)).length;

// ---------------------------------------------------------------------------------------------------
// API keys: a model of the rules, and generated histories of rotations, revocations and checks

type Target = 'fresh' | 'current' | 'empty' | number;
type KeyOp =
  | { readonly op: 'rotate'; readonly dt: number; readonly overlapMs: number; readonly to: Target }
  | { readonly op: 'revoke'; readonly dt: number; readonly which: number }
  | { readonly op: 'accept'; readonly dt: number; readonly which: number };

class Model {
  current = 's0';
  /** Replaced secrets, each with the deadline of the rotation that last replaced it. */
  retiring = new Map<string, number>();
  revoked = new Set<string>();
  accept(token: string, now: number): boolean {
    if (this.revoked.has(token)) return false;
    if (token === this.current) return true;
    const until = this.retiring.get(token);
    return until !== undefined && now < until;
  }
  rotate(next: string, now: number, overlapMs: number): void {
    this.retiring.set(this.current, now + overlapMs);
    this.current = next;
  }
}

// Times land on and next to the windows' edges (overlaps 0, 1, 100, 250, 1000; steps 0, 1, 99, 100, 101, ...),
// and rotations may issue a secret again: the current one, an earlier one (revoked or not), or the empty string.
const dtArb = fc.oneof(fc.constantFrom(0, 1, 99, 100, 101, 249, 250), fc.integer({ min: 0, max: 400 }));
const keyOpArb: fc.Arbitrary<KeyOp> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('rotate' as const),
      dt: dtArb,
      overlapMs: fc.constantFrom(0, 1, 100, 250, 1000),
      to: fc.oneof({ weight: 4, arbitrary: fc.constant<Target>('fresh') }, { weight: 1, arbitrary: fc.constantFrom<Target>('current', 'empty') }, { weight: 2, arbitrary: fc.nat({ max: 9 }) }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), dt: dtArb, which: fc.nat({ max: 11 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('accept' as const), dt: dtArb, which: fc.nat({ max: 11 }) }) },
);

describe('API-key rotation (CredentialSet)', () => {
  it('accepts exactly the current secret and the replaced ones inside their overlap, never a revoked one', () => {
    checkProperty(
      'accept(s, now) is true exactly when s was never revoked and is either the current secret or a replaced one with ' +
        'now < (time of the rotation that last replaced it) + overlapMs; every replaced secret keeps its own window',
      [fc.array(keyOpArb, { minLength: 1, maxLength: 25 })],
      (ops) => {
        const set = new CredentialSet('s0');
        const model = new Model();
        // Every secret ever issued, in order; fresh ones are s1, s2, ... (s1 is a prefix of s10).
        const issued = ['s0'];
        let fresh = 0;
        let now = 0;
        const done: string[] = [];
        const name = (s: string) => JSON.stringify(s);
        for (const o of ops) {
          now += o.dt;
          if (o.op === 'rotate') {
            const next = o.to === 'fresh' ? `s${++fresh}` : o.to === 'current' ? model.current : o.to === 'empty' ? '' : issued[o.to % issued.length]!;
            if (!issued.includes(next)) issued.push(next);
            set.rotate(next, now, o.overlapMs);
            model.rotate(next, now, o.overlapMs);
            done.push(`t=${now} rotate(${name(next)}, overlap ${o.overlapMs})`);
          } else {
            const secret = o.which < issued.length ? issued[o.which]! : 'never-issued';
            if (o.op === 'revoke') {
              set.revoke(secret);
              model.revoked.add(secret);
              done.push(`t=${now} revoke(${name(secret)})`);
            } else {
              const got = set.accept(secret, now);
              const want = model.accept(secret, now);
              done.push(`t=${now} accept(${name(secret)})`);
              if (got !== want) throw new Error(`after ${done.join(', ')}: accept(${name(secret)}) returned ${got}, expected ${want}`);
            }
          }
        }
        // Finally, every secret ever issued, at the last time, on every deadline, and well after every window.
        const times = [now, ...[...model.retiring.values()].flatMap((u) => [u - 1, u]).filter((t) => t >= now), now + 2000];
        for (const t of times) {
          for (const secret of [...issued, 'never-issued', '', 's']) {
            const got = set.accept(secret, t);
            const want = model.accept(secret, t);
            if (got !== want) throw new Error(`after ${done.join(', ')}: accept(${name(secret)}) at t=${t} returned ${got}, expected ${want}`);
          }
        }
      },
      {
        seed: 203,
        numRuns: 300,
        examples: [
          [[{ op: 'rotate', dt: 0, overlapMs: 1000, to: 'fresh' }, { op: 'accept', dt: 10, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 100, to: 'fresh' }, { op: 'accept', dt: 99, which: 0 }, { op: 'accept', dt: 1, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 0, to: 'fresh' }, { op: 'accept', dt: 0, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 1000, to: 'fresh' }, { op: 'revoke', dt: 10, which: 0 }, { op: 'accept', dt: 10, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 1000, to: 'fresh' }, { op: 'rotate', dt: 50, overlapMs: 1000, to: 'fresh' }, { op: 'accept', dt: 10, which: 0 }]],
          // s0 replaced with a long window, issued again, then replaced with none: the last rotation decides.
          [[{ op: 'rotate', dt: 0, overlapMs: 1000, to: 'fresh' }, { op: 'rotate', dt: 10, overlapMs: 1000, to: 0 }, { op: 'rotate', dt: 10, overlapMs: 0, to: 'fresh' }, { op: 'accept', dt: 5, which: 0 }]],
          // A revoked secret issued again stays revoked.
          [[{ op: 'revoke', dt: 0, which: 0 }, { op: 'rotate', dt: 0, overlapMs: 100, to: 'fresh' }, { op: 'rotate', dt: 0, overlapMs: 100, to: 0 }, { op: 'accept', dt: 0, which: 0 }]],
          [[{ op: 'rotate', dt: 0, overlapMs: 250, to: 'current' }, { op: 'rotate', dt: 100, overlapMs: 0, to: 'empty' }, { op: 'accept', dt: 0, which: 0 }, { op: 'accept', dt: 0, which: 1 }]],
        ],
      },
    );
  });
});

describe('following a mounted Secret volume', () => {
  it('installs every update of the volume within 1 s, however often it changes, and stops on close()', async () => {
    const s = await start('a server started with the first certificate');
    const vol = new SecretVolume();
    volumes.push(vol);
    // A moment without timers first, so that a timer left behind by the watch cannot hide behind one that expires.
    await waitFor(() => handles('Timeout') === 0, 500);
    const baseline = { watches: handles('FSEventWrap', 'StatWatcher'), timers: handles('Timeout') };
    const served = async () => {
      const r = await callFails({ port: s.port, path: '/hello', tls: { ca: pki.caA } });
      return r.failed ? `a failed connection (${r.error.message})` : serialName(r.reply.peerSerial);
    };
    /** New connections present `want` within 1 s of patient time. */
    const within1s = async (want: string, step: string) => {
      const since = mark();
      let got = await served();
      while (got !== want && patientElapsedMs(since) < 1000) {
        await new Promise((r) => setTimeout(r, 20));
        got = await served();
      }
      holds(got === want, 'every update of the mounted Secret is served to new connections within 1 s', step, () =>
        `1 s after the update new connections still see ${got}, not ${want}` +
          (step.includes('second update') ? ' (the first update was seen, the second was not: a watch on the file tls.crt follows the inode of the old version, which the kubelet deletes; watch the directory)' : ''),
      );
    };

    const steps: string[] = [];
    const step = (s: string) => (steps.push(s), steps.join('; '));
    vol.write(pki.server2);
    const atStart = step('the volume holds the second certificate; watchSecretVolume()');
    const w = await settles(watchSecretVolume(vol.dir, s), 'watchSecretVolume()', atStart);
    watches.push(w);
    const first = await served();
    holds(first === 'the second certificate', 'watchSecretVolume() resolves once the pair in the volume is installed', atStart, () => `right after it resolved new connections see ${first}`);

    vol.write(pki.server3);
    await within1s('the third certificate', step('the kubelet swaps in the third certificate (first update)'));
    vol.write(pki.server);
    await within1s('the first certificate', step('then the first certificate again (second update, back to an earlier version)'));
    vol.write(pki.server2);
    vol.write(pki.server3);
    await within1s('the third certificate', step('then the second and the third, one right after the other'));

    vol.write({ key: pki.server2.key, cert: pki.server.cert });
    const bad = step("then a broken Secret: the second server's key with the first server's certificate");
    const since = mark();
    while (patientElapsedMs(since) < 200) {
      const now = await served();
      holds(now === 'the third certificate', 'an update whose key does not match its certificate is not installed: the server keeps serving the current pair', bad, () => `new connections see ${now}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    vol.write(pki.server2);
    await within1s('the second certificate', step('then the second certificate, repaired'));

    const closing = step('then close() the watch');
    await settles(w.close(), 'SecretWatch.close()', closing);
    watches.splice(watches.indexOf(w), 1);
    const released = await waitFor(() => handles('FSEventWrap', 'StatWatcher') <= baseline.watches && handles('Timeout') <= baseline.timers, 1000);
    holds(released, 'close() stops watching: no file watch, poller or timer is left', closing, () =>
      `1 s after close() resolved the process still holds ${handles('FSEventWrap', 'StatWatcher') - baseline.watches} more file watch(es) and ${handles('Timeout') - baseline.timers} more timer(s) than before watchSecretVolume()`,
    );
    vol.write(pki.server3);
    const afterClose = step('then the volume changes once more');
    await patientSleep(200);
    const still = await served();
    holds(still === 'the second certificate', 'after close() resolved, updates of the volume are no longer installed', afterClose, () => `new connections see ${still}`);
  });
});

describe('cleanup', () => {
  it('close() ends every connection, idle or busy, and the process holds no open handle', async () => {
    const example = 'one kept-alive HTTPS client, and one client in the middle of sending a request body; then close()';
    const s = await start(example);
    const a = agent({ ca: pki.caA });
    await httpCall({ port: s.port, path: '/hello', tls: { ca: pki.caA }, agent: a });
    // A client that never finishes its request: a close() that waits for it waits for ever.
    uploadsArrived = 0;
    const busy = openCall({ port: s.port, method: 'POST', path: '/upload', tls: { ca: pki.caA }, headers: { 'transfer-encoding': 'chunked' }, timeoutMs: 60_000 });
    busy.req.write('part of a body');
    await waitFor(() => uploadsArrived > 0, 2000);
    await settles(s.close(), 'close() with an idle kept-alive connection and a request in progress', example);
    busy.destroy();
    servers.splice(servers.indexOf(s), 1);
    await closeAll();
    await leaks.check();
  });
});
