// Exactly-once payments over a network that loses replies: idempotency keys, saved responses, one durable write.
import { decodeText, encodeText, type Ctx, type Proc } from '@dlab/harness/sim';

/** What a client asks for: move `amount` into `account`. Two payments may look alike; the memo is the customer's note. */
export interface Payment {
  readonly account: string;
  readonly amount: number;
  readonly memo: string;
}

/**
 * One attempt, as it travels to the server. The idempotency key is the pair (clientId, seq): the same on every
 * retry of one payment, different for every payment. `ackedBelow` is the client's low-water mark: it has the
 * final answer for every seq below it, so the server may forget those answers.
 */
export interface PayRequest {
  readonly clientId: string;
  readonly seq: number;
  readonly ackedBelow: number;
  readonly payment: Payment;
}

/**
 * The server's answer. 200: the payment is on the statement, at line `entry` (1-based) of its account, which
 * then had `balance`. 409: this key is being processed right now, ask again later. 410: this key is below the
 * client's low-water mark, its answer is gone (a very late duplicate). 422: this key was used for another payment.
 */
export type PayResponse =
  | { readonly status: 200; readonly entry: number; readonly balance: number }
  | { readonly status: 409 }
  | { readonly status: 410 }
  | { readonly status: 422 };

/** One line of an account's statement. */
export interface StatementLine {
  readonly memo: string;
  readonly amount: number;
}

/** The card network takes this long to authorise a payment: `await ctx.sleep(AUTH_MS)` before applying it. */
export const AUTH_MS = 20;

/** How a client reaches the server: one attempt, `undefined` when no answer came within `timeoutMs`. */
export type Transport = (req: PayRequest, timeoutMs: number) => Promise<PayResponse | undefined>;

/** What a client process offers: its own random stream and virtual sleep. */
export type ClientCtx = Pick<Ctx<unknown>, 'rand' | 'sleep'>;

/** The server's log: one line per applied payment, holding the effect and the saved answer together. */
const LOG = 'payments.log';
const NEWLINE = 0x0a;

interface LogRecord {
  readonly clientId: string;
  readonly seq: number;
  readonly ackedBelow: number;
  readonly payment: Payment;
  readonly response: PayResponse;
}

interface Saved {
  readonly payment: Payment;
  readonly response: PayResponse;
}

/** What the server remembers about one client incarnation. */
interface Session {
  /** Every seq below this has been answered for good: its saved answer may go, and a request for it is stale. */
  floor: number;
  readonly saved: Map<number, Saved>;
}

/** Applies each payment at most once, however often it is retried, and answers every retry as the first time. */
export class IdempotentServer implements Proc<never, PayRequest, PayResponse> {
  private ctx!: Ctx<never>;
  private readonly accounts = new Map<string, StatementLine[]>();
  private readonly sessions = new Map<string, Session>();
  // Volatile on purpose: after a crash nothing is being processed, and a retry simply starts again.
  private readonly inFlight = new Set<string>();

  init(ctx: Ctx<never>): void {
    this.ctx = ctx;
    // Recovery: the log holds every payment with its saved answer, so replaying it rebuilds both.
    const bytes = ctx.disk.read(LOG);
    if (bytes === undefined) return;
    // Bytes after the last newline are a torn last write: never fsync'd, so never acknowledged.
    const valid = bytes.subarray(0, bytes.lastIndexOf(NEWLINE) + 1);
    if (valid.length < bytes.length) {
      // Cut them off on disk, not only in memory: the next record must not be appended after the garbage, where
      // the next recovery would read the two glued together. The valid prefix is rewritten and made durable; a
      // crash in between leaves the old file (the same torn tail), which the next recovery cuts again.
      ctx.disk.write(LOG, valid);
      ctx.disk.fsync(LOG);
    }
    for (const line of decodeText(valid).split('\n')) {
      if (line !== '') this.remember(JSON.parse(line) as LogRecord);
    }
  }

  onMessage(): void {}

  async onRequest(req: PayRequest, reply: (res: PayResponse) => void): Promise<void> {
    const session = this.session(req.clientId);
    this.advanceFloor(session, req.ackedBelow);
    // A duplicate so late that the client has moved past it: its answer is gone, and it must not run again.
    if (req.seq < session.floor) return reply({ status: 410 });
    const saved = session.saved.get(req.seq);
    if (saved !== undefined) {
      // Same key, same payment: the saved answer, exactly as the first time. Same key, another payment: refuse.
      return reply(samePayment(saved.payment, req.payment) ? saved.response : { status: 422 });
    }
    const key = `${req.clientId}#${req.seq}`;
    // The first attempt is still being authorised: running this one too would apply the payment twice.
    if (this.inFlight.has(key)) return reply({ status: 409 });
    this.inFlight.add(key);
    await this.ctx.sleep(AUTH_MS);
    // (If the node crashed during the sleep, this continuation never runs: nothing was written.)
    this.inFlight.delete(key);

    const lines = this.statementOf(req.payment.account);
    const balance = lines.reduce((sum, l) => sum + l.amount, 0) + req.payment.amount;
    const response: PayResponse = { status: 200, entry: lines.length + 1, balance };
    const record: LogRecord = { clientId: req.clientId, seq: req.seq, ackedBelow: req.ackedBelow, payment: req.payment, response };
    // The heart of it: the effect and the saved answer are ONE record, made durable by ONE fsync, before the
    // reply leaves. A crash before the fsync loses both (the retry runs it fresh); after it, both survive.
    this.ctx.disk.append(LOG, encodeText(JSON.stringify(record) + '\n'));
    this.ctx.disk.fsync(LOG);
    this.remember(record);
    reply(response);
  }

  /** The account's statement, oldest line first (the grader reads it; it must not change anything). */
  statement(account: string): readonly StatementLine[] {
    return this.accounts.get(account) ?? [];
  }

  /** How many saved answers the server holds right now. */
  savedResponses(): number {
    let n = 0;
    for (const s of this.sessions.values()) n += s.saved.size;
    return n;
  }

  /** Applies a logged record to memory: at boot for every line of the log, and after each new append. */
  private remember(r: LogRecord): void {
    this.statementOf(r.payment.account).push({ memo: r.payment.memo, amount: r.payment.amount });
    const session = this.session(r.clientId);
    // The floor travels in the records, so it is as durable as they are.
    this.advanceFloor(session, r.ackedBelow);
    if (r.seq >= session.floor) session.saved.set(r.seq, { payment: r.payment, response: r.response });
  }

  private advanceFloor(session: Session, ackedBelow: number): void {
    if (ackedBelow <= session.floor) return;
    session.floor = ackedBelow;
    // Garbage collection: the client has its answers for everything below the floor and will never ask again.
    for (const seq of session.saved.keys()) if (seq < ackedBelow) session.saved.delete(seq);
  }

  private session(clientId: string): Session {
    let s = this.sessions.get(clientId);
    if (s === undefined) this.sessions.set(clientId, (s = { floor: 0, saved: new Map() }));
    return s;
  }

  private statementOf(account: string): StatementLine[] {
    let l = this.accounts.get(account);
    if (l === undefined) this.accounts.set(account, (l = []));
    return l;
  }
}

function samePayment(a: Payment, b: Payment): boolean {
  return a.account === b.account && a.amount === b.amount && a.memo === b.memo;
}

/** How long one attempt waits for an answer: authorisation plus a round trip, with room to spare. */
const ATTEMPT_TIMEOUT_MS = 60;
/** Back-off between attempts: from 20 ms, doubling, at most 200 ms, each with random jitter. */
const BACKOFF_MIN_MS = 20;
const BACKOFF_MAX_MS = 200;

/** Pays, retrying until the server gives a final answer, with one idempotency key per payment. */
export class RetryingClient {
  /** A fresh random id per client instance: a restarted client must never reuse an earlier instance's keys. */
  readonly clientId: string;
  private nextSeq = 1;

  constructor(
    private readonly ctx: ClientCtx,
    private readonly send: Transport,
  ) {
    let id = '';
    for (let i = 0; i < 12; i++) id += Math.floor(ctx.rand() * 16).toString(16);
    this.clientId = id;
  }

  async pay(payment: Payment): Promise<PayResponse> {
    // The key is minted once, before the first attempt, and reused on every retry: that is what lets the
    // server recognise a retry. Payments are sequential, so every earlier seq has its answer: ackedBelow = seq.
    const seq = this.nextSeq++;
    const req: PayRequest = { clientId: this.clientId, seq, ackedBelow: seq, payment };
    let backoff = BACKOFF_MIN_MS;
    for (;;) {
      const res = await this.send(req, ATTEMPT_TIMEOUT_MS);
      // No answer: the payment may or may not have happened. 409: it is happening. Either way, ask again.
      if (res !== undefined && res.status !== 409) return res;
      await this.ctx.sleep(backoff * (0.5 + this.ctx.rand()));
      backoff = Math.min(2 * backoff, BACKOFF_MAX_MS);
    }
  }
}
