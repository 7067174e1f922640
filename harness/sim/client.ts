// Harness clients: processes that send operations to nodes and record what they were told as a history.
import type { Engine } from './sim.ts';
import type { HistoryEvent, OpType } from '../history/types.ts';
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

/** One history event, in one shape whether or not the operation has a key. */
function entry(process: number, f: string, key: string | undefined, type: OpType, value: unknown, time: number): HistoryEvent {
  return key !== undefined ? { process, f, key, type, value, time } : { process, f, type, value, time };
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
    const process = this.process;
    const key = op.key;
    const e = this.e;
    e.record(this.idx, entry(process, op.f, key, 'invoke', op.value, e.now));
    let result: Completion;
    try {
      const work = Promise.resolve().then(run);
      const timeoutMs = opts.timeoutMs;
      if (timeoutMs === undefined) {
        result = await work;
      } else {
        // The first of the work and the time-out: one promise, not a race of two.
        result = await new Promise<Completion>((resolve, reject) => {
          let open = true;
          const timer = e.wake(e.clientSlot(this.idx), timeoutMs, () => {
            if (open) {
              open = false;
              resolve(INFO);
            }
          });
          work.then(
            (v) => {
              if (!open) return;
              open = false;
              e.cancel(timer);
              resolve(v);
            },
            // A late failure of abandoned work is still a failure of the run, not an unhandled rejection.
            (err: unknown) => {
              e.failWith(err, -1);
              if (!open) return;
              open = false;
              e.cancel(timer);
              reject(err);
            },
          );
        });
      }
      if (!isCompletion(result)) {
        throw new Error(`operation ${op.f} by ${this.id} completed with ${JSON.stringify(result)}, not { type: 'ok' | 'fail' | 'info', value }`);
      }
    } catch (err) {
      e.record(this.idx, entry(process, op.f, key, 'info', undefined, e.now));
      this.process = e.newProcess();
      this.busy = false;
      throw err;
    }
    e.record(this.idx, entry(process, op.f, key, result.type, result.type === 'info' ? undefined : result.value, e.now));
    if (result.type === 'info') this.process = e.newProcess();
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
