// Harness clients: processes that send operations to nodes and record what they were told as a history.
import type { Engine } from './sim.ts';
import type { Completion, Ctx, NodeId, Op, RpcResult } from './types.ts';

const INFO: Completion = { type: 'info' };

/**
 * One client process. Operations recorded with `invoke`/`call` go into `sim.history`, one at a time per
 * client; after an indeterminate (info) result the client continues under a fresh process number, as
 * Jepsen does, because the old operation may still take effect at any later time.
 */
export interface Client {
  /** Its network name: `c0`, `c1`, ... */
  readonly id: NodeId;
  /** The Jepsen process number its next operation is recorded under. */
  readonly process: number;
  /** A context for client-side protocol code (send, rpc, sleep, rand); it never crashes. */
  readonly ctx: Ctx<unknown>;
  /** Sends `req` to `to`'s onRequest and waits for its reply (not recorded in the history). */
  request<Res = Completion>(to: NodeId, req: unknown, opts: { readonly timeoutMs: number }): Promise<RpcResult<Res>>;
  /**
   * Records `op` as invoked, runs `run`, and records how it completed. With `timeoutMs`, an operation
   * still running after that long completes as info (its late outcome is ignored).
   */
  invoke(op: Op, run: () => Completion | Promise<Completion>, opts?: { readonly timeoutMs?: number }): Promise<Completion>;
  /** `invoke` of a request to `to`'s onRequest, whose reply is the completion; no reply in time: info. */
  call(to: NodeId, op: Op, opts: { readonly timeoutMs: number }): Promise<Completion>;
  /** Resolves after `ms` of virtual time. */
  sleep(ms: number): Promise<void>;
}

function isCompletion(x: unknown): x is Completion {
  if (typeof x !== 'object' || x === null) return false;
  const t = (x as { type?: unknown }).type;
  return t === 'ok' || t === 'fail' || t === 'info';
}

export class ClientImpl implements Client {
  process: number;
  private busy = false;

  constructor(
    private readonly e: Engine,
    private readonly idx: number,
    readonly id: NodeId,
    process: number,
    readonly ctx: Ctx<unknown>,
  ) {
    this.process = process;
  }

  request<Res = Completion>(to: NodeId, req: unknown, opts: { readonly timeoutMs: number }): Promise<RpcResult<Res>> {
    return this.e.request(this.idx, to, req, opts.timeoutMs) as Promise<RpcResult<Res>>;
  }

  sleep(ms: number): Promise<void> {
    return this.ctx.sleep(ms);
  }

  async invoke(op: Op, run: () => Completion | Promise<Completion>, opts: { readonly timeoutMs?: number } = {}): Promise<Completion> {
    if (this.busy) throw new Error(`client ${this.id} started ${op.f} while its previous operation was still open (one at a time per client)`);
    this.busy = true;
    const base = { process: this.process, f: op.f, ...(op.key !== undefined ? { key: op.key } : {}) };
    this.e.record(this.idx, { ...base, type: 'invoke', value: op.value, time: this.e.now });
    let result: Completion;
    try {
      const work = Promise.resolve().then(run);
      if (opts.timeoutMs === undefined) {
        result = await work;
      } else {
        let timer: { cancel(): void } | undefined;
        const expired = new Promise<Completion>((resolve) => {
          const ev = this.e.wake(this.e.clientSlot(this.idx), opts.timeoutMs as number, () => resolve(INFO));
          timer = { cancel: () => this.e.cancel(ev) };
        });
        // A late failure of abandoned work is still a failure of the run, not an unhandled rejection.
        work.then(undefined, (err: unknown) => this.e.failWith(err, -1));
        result = await Promise.race([work, expired]);
        timer?.cancel();
      }
      if (!isCompletion(result)) {
        throw new Error(`operation ${op.f} by ${this.id} completed with ${JSON.stringify(result)}, not { type: 'ok' | 'fail' | 'info', value }`);
      }
    } catch (err) {
      this.e.record(this.idx, { ...base, type: 'info', value: undefined, time: this.e.now });
      this.process = this.e.newProcess();
      this.busy = false;
      throw err;
    }
    this.e.record(this.idx, { ...base, type: result.type, value: result.type === 'info' ? undefined : result.value, time: this.e.now });
    if (result.type === 'info') this.process = this.e.newProcess();
    this.busy = false;
    return result;
  }

  call(to: NodeId, op: Op, opts: { readonly timeoutMs: number }): Promise<Completion> {
    return this.invoke(op, async () => {
      const r = await this.request<unknown>(to, op, opts);
      if (!r.ok) return INFO;
      if (!isCompletion(r.value)) {
        throw new Error(`${to} replied to ${this.id}'s ${op.f} with ${JSON.stringify(r.value)}, not { type: 'ok' | 'fail' | 'info', value }`);
      }
      return r.value;
    });
  }
}
