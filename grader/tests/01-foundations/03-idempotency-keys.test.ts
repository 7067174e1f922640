// Hidden tests for 01-foundations/03-idempotency-keys: every payment is applied exactly once, however often it is retried.
import { describe, it } from 'vitest';
import { metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, guardInit, Rng, runCase, simProperty, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { IdempotentServer, RetryingClient, type Payment, type PayRequest, type PayResponse } from '@impl/01-foundations/03-idempotency-keys';

const SERVER = 's';
const CLIENTS = 3;
const PER_CLIENT = 8;
const ACCOUNTS = ['acme', 'globex'] as const;
/** Faults happen in [0, HORIZON); then everything heals. */
const HORIZON = 1000;
/** 15× the longest back-off the lesson allows (200 ms). */
const SETTLE = 3000;
/** CD faults crash the server right after one of its next 1..CRASH_POINTS disk operations. */
const CRASH_POINTS = 6;
/** A request in flight when the server crashes may arrive up to this long after the restart (the `late` of C, T, CD). */
const LATE_MS = 200;

type Server = IdempotentServer;

const fmt = (t: number): string => `${Math.round(t * 1000) / 1000}`;

/** JSON with sorted keys: two answers are "the same" when they say the same, whatever order the fields were built in. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

interface Tracked {
  /** The grader's own name for it, unique (its memo too, unless it is a twin of another payment). */
  readonly name: string;
  readonly who: string;
  readonly payment: Payment;
  /** The first 200 answer anyone received for it, and when. */
  ok?: { readonly time: number; readonly res: PayResponse & { status: 200 }; readonly text: string };
  /** The idempotency keys its attempts carried, as `(clientId, seq)`. */
  readonly keys: Set<string>;
}

/** Payments with the same account, amount and memo: a statement cannot tell them apart, only count their lines. */
interface Twins {
  readonly account: string;
  readonly amount: number;
  readonly payments: Tracked[];
  /** When the first of their lines (last) appeared on the statement. */
  appearedAt?: number;
  /** Lines counted in the current check. */
  seen: number;
}

/**
 * The grader's own record of what should be on the statements (the exactly-once ledger), checked against
 * what the server shows after every event, and against every answer a client receives. It never reads the
 * server's files or internals: only `statement(account)` and the answers.
 */
class Ledger {
  private readonly byName = new Map<string, Tracked>();
  /** Per memo: the groups of payments that say the same (usually one group of one). */
  private readonly byMemo = new Map<string, Twins[]>();
  private readonly groups: Twins[] = [];
  /** Per account and statement line: the payment a 200 said was applied there. */
  private readonly lineOwner = new Map<string, Tracked>();
  /** Crashes and restarts of the server seen so far, for the messages. */
  private readonly downs: { at: number; up?: number }[] = [];
  /** The server's boot last seen, 0 before the first (a node not booted yet has not crashed). */
  private lastIncarnation = 0;
  broken: string | undefined;
  /** What the scripted client is doing right now, for the messages. */
  step = '';

  /** A payment the grader is about to make, under its own unique `name`. */
  track(name: string, who: string, payment: Payment): void {
    const t: Tracked = { name, who, payment, keys: new Set() };
    this.byName.set(name, t);
    let sameMemo = this.byMemo.get(payment.memo);
    if (sameMemo === undefined) this.byMemo.set(payment.memo, (sameMemo = []));
    const twins = sameMemo.find((g) => g.account === payment.account && g.amount === payment.amount);
    if (twins !== undefined) twins.payments.push(t);
    else {
      const g: Twins = { account: payment.account, amount: payment.amount, payments: [t], seen: 0 };
      sameMemo.push(g);
      this.groups.push(g);
    }
  }

  /** Per key: the payments whose attempts carried it; per clientId: the highest ackedBelow it sent. */
  private readonly namesOfKey = new Map<string, Set<string>>();
  private readonly ackedBelow = new Map<string, number>();

  /** Notes the key an attempt of a payment carried. */
  attempt(name: string, req: PayRequest): void {
    const key = `(${JSON.stringify(req.clientId)}, ${req.seq})`;
    this.byName.get(name)?.keys.add(key);
    let names = this.namesOfKey.get(key);
    if (names === undefined) this.namesOfKey.set(key, (names = new Set()));
    names.add(name);
    this.ackedBelow.set(req.clientId, Math.max(this.ackedBelow.get(req.clientId) ?? 0, req.ackedBelow));
  }

  /** Why a correct client's payment ended with 422 or 410: the client's keys, or the server's table? */
  refused(who: string, memo: string, req: PayRequest | undefined, res: unknown): void {
    if (this.broken !== undefined) return;
    const status = (res as { status?: unknown } | undefined)?.status;
    const shown = canonical(res);
    if (req === undefined || (status !== 422 && status !== 410)) {
      this.broken = `${who}'s payment ${memo} ended with ${shown}; a payment must end with 200 once the network heals`;
      return;
    }
    const key = `(${JSON.stringify(req.clientId)}, ${req.seq})`;
    const others = [...(this.namesOfKey.get(key) ?? [])].filter((m) => m !== memo);
    if (status === 422) {
      this.broken =
        others.length > 0
          ? `${who}'s payment ${memo} ended with 422 because its key ${key} had been used before, for payment ${others.join(', ')}: ` +
            'the client must mint a fresh key for every payment (a new seq, and a new random clientId per client instance) and reuse it only for retries'
          : `${who}'s payment ${memo} ended with 422, but no other payment ever carried its key ${key}: the server mixed it up with another ` +
            "payment. Is the server's table keyed by the whole key, clientId and seq together?";
      return;
    }
    const floor = this.ackedBelow.get(req.clientId) ?? 0;
    this.broken =
      req.seq < floor
        ? `${who}'s payment ${memo} ended with 410: its key ${key} is below ackedBelow=${floor}, which this client had already sent. ` +
          'ackedBelow says "I have the final answer for every seq below this": it must not pass a payment still in progress'
        : `${who}'s payment ${memo} ended with 410, but its key ${key} is not below anything this client sent as ackedBelow (at most ${floor}): ` +
          "the server must refuse only seqs below that client's own low-water mark";
  }

  private describe(t: Tracked): string {
    const memo = t.payment.memo === t.name ? '' : `, memo ${JSON.stringify(t.payment.memo)}`;
    return `payment ${t.name} of ${t.who} (${t.payment.amount} to ${t.payment.account}${memo})`;
  }

  /** Notes the server's crashes and restarts, so a message can say what happened in between. */
  private watchServer(sim: Sim<Server>): boolean {
    const v = sim.node(SERVER);
    const last = this.downs[this.downs.length - 1];
    if (!v.up) {
      if (v.incarnation > 0 && (last === undefined || last.up !== undefined)) this.downs.push({ at: sim.now });
      return false;
    }
    if (v.incarnation !== this.lastIncarnation) {
      // A new boot: after a crash we saw, or after a crash and restart between two events.
      if (v.incarnation > 1) {
        if (last !== undefined && last.up === undefined) last.up = sim.now;
        else this.downs.push({ at: sim.now, up: sim.now });
      }
      this.lastIncarnation = v.incarnation;
    }
    return true;
  }

  /** When the server restarted, for the messages. */
  restarts(): number[] {
    return this.downs.flatMap((d) => (d.up !== undefined ? [d.up] : []));
  }

  private between(from: number, to: number): string {
    // Every crash that overlaps [from, to]: one that began just before an answer arrived counts too.
    const d = this.downs.filter((x) => x.at <= to && (x.up ?? Infinity) >= from);
    if (d.length === 0) return '';
    const parts = d.map((x) => (x.up !== undefined ? `crashed at t=${fmt(x.at)} ms and restarted at t=${fmt(x.up)} ms` : `crashed at t=${fmt(x.at)} ms`));
    return ` (${SERVER} ${parts.join(', then ')} in between)`;
  }

  /** Safety after every event: what the statements show must be explainable by the requests. */
  observe(sim: Sim<Server>): string | undefined {
    if (this.broken !== undefined) return this.broken;
    if (!this.watchServer(sim)) return undefined;
    for (const g of this.groups) g.seen = 0;
    const step = this.step === '' ? '' : ` (${this.step})`;
    for (const account of ACCOUNTS) {
      const lines = sim.asNode(SERVER, (p) => p.statement(account)) ?? [];
      for (const line of lines) {
        const sameMemo = this.byMemo.get(line.memo);
        if (sameMemo === undefined) return `${account}'s statement has a line ${canonical(line)} that no client asked for`;
        const g = sameMemo.find((x) => x.account === account && x.amount === line.amount);
        if (g === undefined) {
          const all = sameMemo.flatMap((x) => x.payments);
          return (
            `${account}'s statement has ${canonical(line)}, but ${all.map((t) => this.describe(t)).join(' and ')} ` +
            `${all.length === 1 ? 'is the only payment' : 'are the only payments'} with that memo: ` +
            'a request that reused its key for a different payment was applied instead of being refused with 422'
          );
        }
        const n = ++g.seen;
        if (n === g.payments.length + 1) {
          const first = g.appearedAt ?? sim.now;
          if (g.payments.length > 1) {
            return (
              `${g.payments.map((t) => this.describe(t)).join(' and ')} say the same (account, amount, memo), and at t=${fmt(sim.now)} ms ` +
              `${account}'s statement has ${n} lines of them: one of them was applied twice${this.between(first, sim.now)}${step}`
            );
          }
          const t = g.payments[0]!;
          const keys =
            t.keys.size > 1
              ? `; its attempts carried ${t.keys.size} different keys, ${[...t.keys].join(', ')}: every retry must reuse the first attempt's key`
              : '';
          return `${this.describe(t)} was applied twice: it went on the statement at t=${fmt(first)} ms and again at t=${fmt(sim.now)} ms${this.between(first, sim.now)}${step}${keys}`;
        }
      }
    }
    for (const g of this.groups) {
      const n = g.seen;
      let ackedCount = 0;
      for (const t of g.payments) if (t.ok !== undefined) ackedCount++;
      if (ackedCount > n) {
        const acked = g.payments.filter((t) => t.ok !== undefined);
        const t = acked[acked.length - 1]!;
        const ok = t.ok!;
        if (g.payments.length === 1) {
          return (
            `${this.describe(t)} was acknowledged at t=${fmt(ok.time)} ms (line ${ok.res.entry} of ${t.payment.account}), ` +
            `but at t=${fmt(sim.now)} ms it is not on the statement${this.between(ok.time, sim.now)}: an acknowledged payment was lost. ` +
            `Was it on disk (fsync) before the answer left?${step}`
          );
        }
        return (
          `${acked.map((x) => this.describe(x)).join(' and ')} were acknowledged, but at t=${fmt(sim.now)} ms ${t.payment.account}'s statement has ` +
          `${n} line${n === 1 ? '' : 's'} of them${this.between(ok.time, sim.now)}: an acknowledged payment was lost. They say the same (account, amount, memo), ` +
          `but they are different payments with different keys: only the key tells a retry from a new payment${step}`
        );
      }
      if (n === 0) delete g.appearedAt;
      else if (g.appearedAt === undefined) g.appearedAt = sim.now;
    }
    return undefined;
  }

  /** Every answer a client receives for a payment: a 200 must repeat the first 200 exactly and describe the statement. */
  answered(name: string, res: PayResponse, sim: Sim<Server>): void {
    if (this.broken !== undefined || res.status !== 200) return;
    const t = this.byName.get(name);
    if (t === undefined) return;
    const text = canonical(res);
    if (t.ok !== undefined) {
      if (t.ok.text !== text) {
        this.broken =
          `${this.describe(t)} got two different answers: ${t.ok.text} at t=${fmt(t.ok.time)} ms and ${text} at t=${fmt(sim.now)} ms: ` +
          'every retry must get exactly the answer saved for the first attempt';
      }
      return;
    }
    t.ok = { time: sim.now, res, text };
    const where = `${t.payment.account}#${res.entry}`;
    const owner = this.lineOwner.get(where);
    if (owner !== undefined) {
      this.broken =
        `${this.describe(t)} was answered ${text} at t=${fmt(sim.now)} ms, but ${this.describe(owner)} had been answered ${owner.ok?.text ?? '?'}: ` +
        `two different payments, both on line ${res.entry} of ${t.payment.account}? They have different keys: only the key tells a retry from a new payment`;
      return;
    }
    this.lineOwner.set(where, t);
    const lines = sim.asNode(SERVER, (p) => p.statement(t.payment.account));
    if (lines === undefined) return; // the server crashed since it answered; the next check of the statement will tell
    const line = lines[res.entry - 1];
    const balance = lines.slice(0, res.entry).reduce((s, l) => s + l.amount, 0);
    if (line === undefined || line.memo !== t.payment.memo || line.amount !== t.payment.amount || balance !== res.balance) {
      this.broken =
        `${this.describe(t)} was answered ${text} at t=${fmt(sim.now)} ms, but line ${res.entry} of ${t.payment.account}'s statement is ` +
        `${line === undefined ? 'missing' : canonical(line)} and the balance after it is ${balance}: ` +
        'the answer must describe this payment where it was applied (entry: its 1-based line, balance: right after it)';
    }
  }
}

/** Who to tell when a guarded server's recovery throws: its ledger, and the world once the workload has started. */
const GUARDS = new WeakMap<object, { readonly ledger: Ledger; readonly sim: () => Sim<Server> | undefined }>();

/**
 * The learner's server, unchanged, except that an error thrown by its recovery (init) is reported as what it is,
 * instead of as a crash of the simulation. One class for every world (its guard lives in GUARDS, not in a field).
 */
class GuardedServer extends IdempotentServer {
  override init(...args: Parameters<IdempotentServer['init']>): ReturnType<IdempotentServer['init']> {
    const blame = (e: unknown) => {
      const g = GUARDS.get(this);
      const s = g?.sim();
      // A crash inside recovery (a CD fault) is the simulator's business, not an error of the recovery.
      if (g === undefined || s === undefined || !s.node(SERVER).up) return false;
      g.ledger.broken ??=
        `after ${SERVER} restarted at t=${fmt(s.now)} ms, its recovery (init) threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}. ` +
        'Recovery must read back everything the server ever made durable. Was a torn record at the end of the log (a crash in the ' +
        'middle of a write) skipped in memory but left on disk? Then the next record was appended right after the garbage, and the ' +
        'two now read back as one broken line: cut the torn tail off on disk before appending again' +
        (g.ledger.step === '' ? '' : ` (${g.ledger.step})`);
      return true;
    };
    return guardInit(() => super.init(...args), blame);
  }
}

function guardedServer(ledger: Ledger, sim: () => Sim<Server> | undefined): Server {
  const server = new GuardedServer();
  GUARDS.set(server, { ledger, sim });
  return server;
}

interface Plan {
  readonly payments: Payment[];
  /** The grader's names for them (`c0-p3`): usually their memos too. */
  readonly names: string[];
  readonly think: number[];
  /** Before this payment the client restarts: a new RetryingClient instance takes over. */
  readonly restartAt: number;
}

interface Figures {
  latencies: number[];
  fsyncs: number;
  sent: number;
  payments: number;
  saved: number;
}

/** The whole system: three clients, each paying eight times through the learner's RetryingClient, and one server. */
function world(c: SimCase, figures?: Figures): World<Server> {
  const rng = new Rng(c.seed).split('workload');
  const plans: Plan[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const payments: Payment[] = [];
    const names: string[] = [];
    const think: number[] = [];
    for (let k = 1; k <= PER_CLIENT; k++) {
      payments.push({ account: ACCOUNTS[rng.int(0, ACCOUNTS.length - 1)]!, amount: rng.int(1, 99), memo: `c${i}-p${k}` });
      names.push(`c${i}-p${k}`);
      think.push(rng.int(0, 80));
    }
    plans.push({ payments, names, think, restartAt: rng.int(2, PER_CLIENT - 2) });
  }
  // Two different payments that say the same: c1's third pays exactly what c0's third pays (account, amount, memo).
  plans[1]!.payments[2] = { ...plans[0]!.payments[2]! };
  const ledger = new Ledger();
  const current: string[] = [];
  const done: string[][] = plans.map(() => []);
  const lastRequest: (PayRequest | undefined)[] = [];
  let instances = 0;
  let world: Sim<Server> | undefined;

  return {
    nodes: [SERVER],
    clients: CLIENTS,
    proc: () => guardedServer(ledger, () => world),
    workload: async (s) => {
      world = s;
      if (figures !== undefined) {
        const disk = s.node(SERVER).disk;
        const charge = disk.onFsync;
        disk.onFsync = (file) => {
          figures.fsyncs++;
          charge(file);
        };
      }
      await Promise.all(
        plans.map(async (plan, i) => {
          const client = s.clients[i]!;
          const who = `client ${client.id}`;
          const transport = async (req: PayRequest, timeoutMs: number): Promise<PayResponse | undefined> => {
            const name = current[i]!;
            ledger.attempt(name, req);
            lastRequest[i] = req;
            const r = await client.request<PayResponse>(SERVER, req, { timeoutMs });
            if (!r.ok) return undefined;
            ledger.answered(name, r.value, s);
            return r.value;
          };
          let rc: RetryingClient | undefined;
          for (let k = 0; k < plan.payments.length; k++) {
            await client.sleep(plan.think[k]!);
            if (rc === undefined || k === plan.restartAt) {
              rc = new RetryingClient(client.ctx, transport);
              instances++;
            }
            const p = plan.payments[k]!;
            const name = plan.names[k]!;
            ledger.track(name, who, p);
            current[i] = name;
            lastRequest[i] = undefined;
            const started = s.now;
            const payer = rc;
            const out = await client.invoke({ f: 'pay', key: p.account, value: `${p.memo}: ${p.amount}` }, async () => {
              const res = await payer.pay(p);
              return res.status === 200 ? { type: 'ok', value: res } : { type: 'fail', value: res };
            });
            if (out.type !== 'ok') ledger.refused(who, name, lastRequest[i], out.value);
            figures?.latencies.push(s.now - started);
            done[i]!.push(name);
          }
        }),
      );
    },
    invariant: (s) => ledger.observe(s),
    check: (s) => {
      for (let i = 0; i < CLIENTS; i++) {
        const plan = plans[i]!;
        if (done[i]!.length < plan.payments.length) {
          const name = plan.names[done[i]!.length]!;
          return `client ${s.clients[i]!.id}'s payment ${name} has not completed ${SETTLE} ms after the heal (the client must keep retrying, with back-off, until it gets a final answer)`;
        }
      }
      const saved = s.asNode(SERVER, (p) => p.savedResponses());
      if (saved === undefined) return `${SERVER} is down after the heal`;
      if (figures !== undefined) {
        figures.saved += saved;
        figures.sent += s.stats.sent;
        figures.payments += CLIENTS * PER_CLIENT;
      }
      if (saved > instances) {
        const restarts = ledger.restarts();
        const after =
          restarts.length === 0
            ? ''
            : ` (${SERVER} restarted at t=${restarts.map(fmt).join(', ')} ms: does recovery bring back answers that had been forgotten? ` +
              'Each client\'s low-water mark must be as durable as the answers)';
        return (
          `every client has moved on, yet ${SERVER} still holds ${saved} saved answers; it needs at most one per client instance ` +
          `(${instances} here: the last payment of each, whose acknowledgement it has not seen). Forget the answers below each client's ackedBelow${after}`
        );
      }
      return undefined;
    },
  };
}

/** A scripted client that speaks the protocol directly, to test the server alone: concurrent duplicates, 422, stale keys, crashes. */
function scripted(): World<Server> {
  const payments: Payment[] = [
    { account: 'acme', amount: 5, memo: 'g1' },
    { account: 'globex', amount: 8, memo: 'g2' },
    { account: 'acme', amount: 13, memo: 'g3' },
  ];
  const ledger = new Ledger();
  for (const p of payments) ledger.track(p.memo, 'client g', p);
  const [P1, P2, P3] = payments as [Payment, Payment, Payment];
  const req = (seq: number, payment: Payment): PayRequest => ({ clientId: 'g', seq, ackedBelow: seq, payment });
  let world: Sim<Server> | undefined;
  let finished = false;

  return {
    nodes: [SERVER],
    clients: 1,
    proc: () => guardedServer(ledger, () => world),
    workload: async (s) => {
      world = s;
      const c = s.clients[0]!;
      const ask = async (r: PayRequest, timeoutMs = 200, name = r.payment.memo): Promise<PayResponse | undefined> => {
        const out = await c.request<PayResponse>(SERVER, r, { timeoutMs });
        if (!out.ok) return undefined;
        ledger.answered(name, out.value, s);
        return out.value;
      };
      /** Asks until the answer is final (a lost answer or 409 means: ask again in 10 ms), at most 20 times. */
      const settled = async (r: PayRequest, name = r.payment.memo): Promise<PayResponse | undefined> => {
        let res: PayResponse | undefined;
        for (let i = 0; i < 20; i++) {
          res = await ask(r, 100, name);
          if (res !== undefined && res.status !== 409) return res;
          await c.sleep(10);
        }
        return res;
      };
      const fail = (what: string) => {
        ledger.broken ??= what;
      };
      const same = (a: PayResponse | undefined, b: PayResponse | undefined) => a !== undefined && b !== undefined && canonical(a) === canonical(b);
      const show = (r: PayResponse | undefined) => (r === undefined ? 'no answer within 200 ms' : canonical(r));

      // 1. Two copies of one request, 3 ms apart: the second arrives while the first is being authorised.
      ledger.step = 'the grader had sent two copies of g1\'s request 3 ms apart, the second arriving while the first was being authorised';
      const copies = await Promise.all([ask(req(1, P1)), c.sleep(3).then(() => ask(req(1, P1)))]);
      // Either copy may arrive first: one of them must get 200, the other 409 (in flight) or the very same answer.
      const a1 = copies.find((x) => x?.status === 200);
      if (a1 === undefined) return fail(`two copies of payment g1's request (seq 1), 3 ms apart, were answered ${show(copies[0])} and ${show(copies[1])}: one of them must get 200`);
      const other = copies[0] === a1 ? copies[1] : copies[0];
      if (other?.status !== 409 && !same(a1, other)) {
        return fail(`of two copies of g1's request sent 3 ms apart, one was answered ${show(a1)} and the other, which arrived while the first was being authorised, ${show(other)}: expected 409 (in flight) or the very same answer`);
      }
      // 2. The same request again, later: exactly the saved answer.
      ledger.step = 'the grader had sent g1\'s request again after it completed';
      const a3 = await ask(req(1, P1));
      if (!same(a1, a3)) return fail(`a retry of g1 after it completed was answered ${show(a3)}, not the saved answer ${show(a1)}`);
      // 3. The same key for a different payment: refused, not applied.
      ledger.step = 'the grader had reused g1\'s key for a different payment';
      const a4 = await ask(req(1, { ...P1, amount: 7 }));
      if (a4?.status !== 422) return fail(`a request reusing g1's key (client g, seq 1) for a different payment (amount 7 instead of 5) was answered ${show(a4)}, not 422`);
      // 4. The next payment moves the client's low-water mark past seq 1.
      ledger.step = 'the grader had sent payment g2 (seq 2, ackedBelow 2)';
      const b1 = await ask(req(2, P2));
      if (b1?.status !== 200) return fail(`payment g2 (seq 2) was answered ${show(b1)}, not 200`);
      // 5. A very late duplicate of seq 1: it must not run again.
      ledger.step = 'the grader had sent a late duplicate of g1 (seq 1) after the client moved on to seq 2 with ackedBelow 2';
      const a5 = await ask(req(1, P1));
      if (a5?.status !== 410 && !same(a1, a5)) {
        return fail(`a late duplicate of g1 (seq 1, after the client moved on to seq 2) was answered ${show(a5)}: expected 410 (stale) or the saved answer ${show(a1)}`);
      }
      // 6. Crash right after an acknowledged payment; after the restart, its retry gets the saved answer.
      ledger.step = `the grader had crashed ${SERVER} right after g2 was acknowledged, and retried g2 after the restart`;
      s.fault({ code: 'C', node: SERVER, downMs: 30 });
      await c.sleep(40);
      const b2 = await ask(req(2, P2));
      if (!same(b1, b2)) return fail(`after ${SERVER} crashed and restarted, a retry of g2 was answered ${show(b2)}, not the saved answer ${show(b1)}`);
      // 7. And business goes on.
      ledger.step = 'the grader had sent payment g3 (seq 3) after the restart';
      const c1 = await ask(req(3, P3));
      if (c1?.status !== 200) return fail(`after the restart, payment g3 (seq 3) was answered ${show(c1)}, not 200`);

      // 8. A late copy from before a crash: the request is in the network when the server crashes, and arrives
      //    after the restart, after its retry has been answered.
      const P4: Payment = { account: 'globex', amount: 21, memo: 'g4' };
      ledger.track(P4.memo, 'client g', P4);
      ledger.step = `the grader had sent g4, crashed ${SERVER} while the request was in the network, and retried after the restart; the first copy arrives late`;
      const first = ask(req(4, P4));
      await c.sleep(0.5);
      s.fault({ code: 'C', node: SERVER, downMs: 20, late: 60 });
      await c.sleep(25);
      const d1 = await settled(req(4, P4));
      if (d1?.status !== 200) return fail(`after ${SERVER} crashed and restarted, a retry of g4 was answered ${show(d1)}, not 200`);
      await first;
      await c.sleep(60);

      // 9. Crashes inside the handler: right after the server's 1st, 2nd, ... 6th disk operation of one payment,
      //    losing what was not fsync'd, or tearing it. Then a crash right after the restart (a second recovery reads
      //    what the first one left on disk), the retry, one more crash, and the retry again.
      let seq = 5;
      for (let op = 1; op <= CRASH_POINTS; op++) {
        for (const torn of [false, true]) {
          const P: Payment = { account: ACCOUNTS[seq % 2]!, amount: seq, memo: `g${seq}` };
          ledger.track(P.memo, 'client g', P);
          const how = `${torn ? 'tearing' : 'losing'} what was not fsync'd`;
          ledger.step = `the grader had crashed ${SERVER} inside the handler of g${seq}, right after its disk operation ${op} of that payment, ${how}, and once more right after the restart`;
          s.fault({ code: 'CD', node: SERVER, op, downMs: 20, torn });
          const e1 = await ask(req(seq, P), 100);
          // Disarm it, in case this payment made fewer disk operations (this also restarts a crashed server at once).
          s.fault({ code: 'H' });
          await c.sleep(5);
          s.fault({ code: 'C', node: SERVER, downMs: 10 });
          await c.sleep(15);
          const e2 = await settled(req(seq, P));
          if (e2?.status !== 200) {
            return fail(`after a crash inside the handler of g${seq} (right after its disk operation ${op}, ${how}) and one more crash right after the restart, a retry was answered ${show(e2)}, not 200`);
          }
          if (e1 !== undefined && !same(e1, e2)) return fail(`g${seq} was answered ${show(e1)}, and after a crash its retry ${show(e2)}: a retry must get the saved answer`);
          ledger.step = `${ledger.step}; then the grader retried g${seq}, crashed ${SERVER} once more, and retried again`;
          s.fault({ code: 'C', node: SERVER, downMs: 10 });
          await c.sleep(15);
          const e3 = await settled(req(seq, P));
          if (!same(e2, e3)) return fail(`g${seq} was answered ${show(e2)}; after one more crash and restart its retry got ${show(e3)}, not the saved answer`);
          seq++;
        }
      }

      // 10. Another client pays exactly what g's last payment says (account, amount, memo), while g's answer is saved:
      //     a different payment, with a different key, so a new line.
      const last: Payment = { account: ACCOUNTS[(seq - 1) % 2]!, amount: seq - 1, memo: `g${seq - 1}` };
      ledger.track('h1', 'client h', last);
      ledger.step = `the grader had sent, as client h, a payment that says exactly what g${seq - 1} says, under h's own key`;
      const h1 = await settled({ clientId: 'h', seq: 1, ackedBelow: 1, payment: last }, 'h1');
      if (h1?.status !== 200) return fail(`client h's payment (${canonical(last)}, key ("h", 1)) was answered ${show(h1)}, not 200`);
      ledger.step = '';
      finished = true;
      return undefined;
    },
    invariant: (s) => ledger.observe(s),
    check: () => (finished || ledger.broken !== undefined ? undefined : `the scripted scenario did not finish (it stopped at: ${ledger.step})`),
  };
}

const MAIN_FAULTS = faultSchedule({
  nodes: [SERVER],
  codes: ['L', 'D', 'R', 'C', 'T', 'CD', 'G', 'SD', 'H'],
  horizonMs: HORIZON,
  maxEvents: 6,
  bounds: { lossPct: 30, dupPct: 30, reorderPct: 50, reorderMs: 100, downMs: 300, diskOps: CRASH_POINTS, lateMs: LATE_MS, pauseMs: 100, fsyncMs: 20 },
});

describe('01-foundations/03-idempotency-keys', () => {
  it('the server alone: duplicates in flight, a reused key, a stale key, crashes after an acknowledgement and inside the handler', async () => {
    await simProperty({
      property:
        'the server applies each key at most once: a copy that arrives in flight gets 409 or the same answer, a retry gets the saved answer (also after a crash, wherever in the handler it strikes), a key reused for another payment gets 422, a stale key is never run again',
      seed: 3101,
      world: () => scripted(),
      // No generated faults here: the scenario injects its own. The heal comes after it has ended.
      horizonMs: 5000,
      settleMs: 100,
      runs: 8,
    });
  });

  it('every payment is applied exactly once through loss, duplication, reordering, pauses and crashes', async () => {
    await simProperty({
      property:
        'every payment is applied exactly once: never twice, never lost once acknowledged, every retry answered with the first answer; all done after the heal, with at most one saved answer per client left',
      seed: 3102,
      world: (c) => world(c),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 100,
      faults: MAIN_FAULTS,
      killers: [
        // Lost answers and crashes: retries arrive after a restart.
        {
          seed: 1,
          schedule: [
            { at: 0, code: 'L', pct: 30 },
            { at: 250, code: 'C', node: SERVER, downMs: 60 },
            { at: 500, code: 'C', node: SERVER, downMs: 60 },
            { at: 750, code: 'C', node: SERVER, downMs: 60 },
          ],
        },
        // Duplicated and delayed requests: copies arrive while the first is authorised, and long after.
        { seed: 2, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 100 }] },
        // Torn crashes under loss.
        {
          seed: 3,
          schedule: [
            { at: 0, code: 'L', pct: 25 },
            { at: 300, code: 'T', node: SERVER, downMs: 40 },
            { at: 650, code: 'T', node: SERVER, downMs: 40 },
          ],
        },
        // A slow disk stretches every request; duplicates pile up behind it.
        { seed: 4, schedule: [{ at: 0, code: 'SD', node: SERVER, fsyncMs: 20 }, { at: 0, code: 'D', pct: 30 }, { at: 0, code: 'L', pct: 10 }] },
        // Crashes inside the handler: right after a payment's 2nd and 3rd disk operations, and one tearing an append;
        // then a crash between events, so that a recovery reads what an earlier recovery left on disk.
        {
          seed: 5,
          schedule: [
            { at: 0, code: 'L', pct: 10 },
            { at: 150, code: 'CD', node: SERVER, op: 2, downMs: 40 },
            { at: 350, code: 'CD', node: SERVER, op: 3, downMs: 40 },
            { at: 550, code: 'CD', node: SERVER, op: 1, downMs: 40, torn: true },
            { at: 800, code: 'C', node: SERVER, downMs: 40 },
          ],
        },
        // Requests in the network when the server crashes arrive after the restart, after their retries (a pause
        // right before a crash piles them up).
        {
          seed: 6,
          schedule: [
            { at: 0, code: 'D', pct: 20 },
            { at: 180, code: 'G', node: SERVER, ms: 60 },
            { at: 235, code: 'C', node: SERVER, downMs: 50, late: LATE_MS },
            { at: 480, code: 'G', node: SERVER, ms: 60 },
            { at: 535, code: 'T', node: SERVER, downMs: 50, late: LATE_MS },
            { at: 750, code: 'CD', node: SERVER, op: 2, downMs: 30, late: LATE_MS },
          ],
        },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    for (const [label, loss] of [['a perfect network', 0], ['30% loss', 30]] as const) {
      const f: Figures = { latencies: [], fsyncs: 0, sent: 0, payments: 0, saved: 0 };
      for (let seed = 1; seed <= 10; seed++) {
        await runCase(
          { property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => world(c, f) },
          { seed, schedule: loss > 0 ? [{ at: 0, code: 'L', pct: loss }] : [] },
        );
      }
      const sorted = [...f.latencies].sort((a, b) => a - b);
      const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      const n = Math.max(1, f.payments);
      recordMetric({ name: `fsyncs per payment, ${label}`, value: f.fsyncs / n, unit: 'fsyncs', better: 'lower' });
      recordMetric({ name: `messages per payment, ${label}`, value: f.sent / n, unit: 'msgs', better: 'lower' });
      recordMetric({ name: `payment latency p50, ${label}`, value: pct(0.5), unit: 'ms', better: 'lower' });
      recordMetric({ name: `payment latency p99, ${label}`, value: pct(0.99), unit: 'ms', better: 'lower' });
      recordMetric({ name: `saved answers left at the end, ${label}`, value: f.saved / 10, unit: 'entries', better: 'lower' });
    }
  });
});
