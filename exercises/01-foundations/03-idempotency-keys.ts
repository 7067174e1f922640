// Exactly-once payments over a network that loses replies: idempotency keys, saved responses, one durable write.
// Read the lesson first: `npx dlab lesson 01-foundations/03-idempotency-keys`.
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

/** Applies each payment at most once, however often it is retried, and answers every retry as the first time. */
export class IdempotentServer implements Proc<never, PayRequest, PayResponse> {
  private ctx!: Ctx<never>;
  // TODO: the state you need: each account's statement (lines in order), and per client its saved answers
  // and its low-water mark. What must survive a crash has to be rebuilt from ctx.disk in init.

  init(ctx: Ctx<never>): void {
    this.ctx = ctx;
    // TODO: recover. Read what you wrote to ctx.disk (decodeText turns bytes into a string) and rebuild the
    // statements and the saved answers. A last record that was cut short by a crash was never acknowledged; it
    // must not stay on disk in front of the next record you append. (A crash can strike between any two disk
    // operations, here too.)
    void decodeText;
  }

  onMessage(): void {}

  async onRequest(req: PayRequest, reply: (res: PayResponse) => void): Promise<void> {
    // TODO: in this order:
    // - a seq below the client's low-water mark is a stale duplicate: 410, and never run it;
    // - a key you have answered before: the saved answer, exactly (or 422 if the payment differs);
    // - a key that is being authorised right now: 409;
    // - otherwise authorise (await this.ctx.sleep(AUTH_MS)), then apply the payment AND save its answer in
    //   ONE record, append it and fsync it (encodeText turns a string into bytes), and only then reply.
    void req;
    void reply;
    void encodeText;
    void AUTH_MS;
    void this.ctx;
    throw new Error('TODO: IdempotentServer.onRequest');
  }

  /** The account's statement, oldest line first (the grader reads it; it must not change anything). */
  statement(account: string): readonly StatementLine[] {
    // TODO: the lines of this account, in the order they were applied ([] for an unknown account).
    void account;
    throw new Error('TODO: IdempotentServer.statement');
  }

  /** How many saved answers the server holds right now. */
  savedResponses(): number {
    // TODO: count the answers you keep; forget those below each client's low-water mark.
    throw new Error('TODO: IdempotentServer.savedResponses');
  }
}

/** Pays, retrying until the server gives a final answer, with one idempotency key per payment. */
export class RetryingClient {
  /** A fresh random id per client instance: a restarted client must never reuse an earlier instance's keys. */
  readonly clientId: string;

  constructor(
    private readonly ctx: ClientCtx,
    private readonly send: Transport,
  ) {
    // TODO: mint a random clientId with ctx.rand() (say, 12 hex digits).
    this.clientId = '';
    throw new Error('TODO: RetryingClient constructor');
  }

  async pay(payment: Payment): Promise<PayResponse> {
    // TODO: mint the key (this.clientId, a new seq) once, then send the same request until the answer is final:
    // no answer (undefined) or 409 means "ask again", after a back-off (ctx.sleep, 20 ms doubling up to 200 ms,
    // with some jitter from ctx.rand()). Every earlier payment has its answer, so ackedBelow = seq.
    void payment;
    void this.ctx;
    void this.send;
    throw new Error('TODO: RetryingClient.pay');
  }
}
