// While a simulation runs, the clock, randomness and timer globals learner code reaches for are the simulator's.

/** What the simulator provides in place of the real globals. */
export interface GlobalsHost {
  /** Date.now() and `new Date()`: the current node's wall clock (virtual time outside a handler). */
  dateNow(): number;
  /** performance.now(): the current node's monotonic clock. */
  perfNow(): number;
  /** Math.random(): the current node's stream. */
  random(): number;
  /** setTimeout / setInterval / setImmediate: a simulator timer on the current node; returns its id. */
  timer(fn: (...args: unknown[]) => void, ms: number, args: unknown[], repeat: boolean): number;
  clearTimer(id: number): void;
  /**
   * process.nextTick() was called. Ticks keep their real behaviour; the count tells the simulator that a
   * tick may run after the one it waits for when it lets async code settle, so it waits once more.
   */
  tickQueued(): void;
}

/** What a simulated setTimeout returns: shaped like Node's Timeout so `.unref()` and friends work. */
export class SimTimeout {
  constructor(
    readonly id: number,
    private readonly host: GlobalsHost,
  ) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    return this;
  }
  close(): this {
    this.host.clearTimer(this.id);
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

let active: GlobalsHost | undefined;

/** True while a simulation's globals are installed. */
export function simulationActive(): boolean {
  return active !== undefined;
}

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Installs the host's globals and returns the function that puts the originals back. Only one simulation
 * may run at a time: interleaving two would mix their clocks.
 */
export function installGlobals(host: GlobalsHost): () => void {
  if (active !== undefined) {
    throw new Error('another simulation is already running in this process: await one run before starting the next');
  }
  const g = globalThis as unknown as Record<string, unknown>;
  const saved = {
    random: Math.random,
    Date: g['Date'] as DateConstructor,
    setTimeout: g['setTimeout'],
    clearTimeout: g['clearTimeout'],
    setInterval: g['setInterval'],
    clearInterval: g['clearInterval'],
    setImmediate: g['setImmediate'],
    clearImmediate: g['clearImmediate'],
    nextTick: process.nextTick,
  };
  const perf = globalThis.performance as unknown as Record<string, unknown>;
  const perfHadOwnNow = Object.prototype.hasOwnProperty.call(perf, 'now');
  const perfNow = perf['now'];

  const RealDate = saved.Date;
  const simDateNow = (): number => host.dateNow();
  const SimDate: DateConstructor = new Proxy(RealDate, {
    construct(target, args: unknown[], newTarget) {
      return Reflect.construct(target, args.length === 0 ? [host.dateNow()] : args, newTarget === SimDate ? target : newTarget) as object;
    },
    apply() {
      return new RealDate(host.dateNow()).toString();
    },
    get(target, prop, receiver) {
      return prop === 'now' ? simDateNow : Reflect.get(target, prop, receiver);
    },
  });

  const realClear = (orig: unknown) => (h: unknown) => {
    if (h instanceof SimTimeout) host.clearTimer(h.id);
    else if (typeof h === 'number') host.clearTimer(h);
    else if (h !== undefined && h !== null) (orig as AnyFn)(h);
  };
  const toMs = (ms: unknown): number => {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? n : 0;
  };

  active = host;
  Math.random = () => host.random();
  g['Date'] = SimDate;
  perf['now'] = () => host.perfNow();
  g['setTimeout'] = (fn: AnyFn, ms?: unknown, ...args: unknown[]) => new SimTimeout(host.timer(fn, toMs(ms), args, false), host);
  g['setInterval'] = (fn: AnyFn, ms?: unknown, ...args: unknown[]) => new SimTimeout(host.timer(fn, Math.max(1, toMs(ms)), args, true), host);
  g['setImmediate'] = (fn: AnyFn, ...args: unknown[]) => new SimTimeout(host.timer(fn, 0, args, false), host);
  g['clearTimeout'] = realClear(saved.clearTimeout);
  g['clearInterval'] = realClear(saved.clearInterval);
  g['clearImmediate'] = realClear(saved.clearImmediate);
  const realNextTick = saved.nextTick;
  process.nextTick = ((fn: AnyFn, ...args: unknown[]) => {
    host.tickQueued();
    realNextTick(fn, ...args);
  }) as typeof process.nextTick;

  return () => {
    Math.random = saved.random;
    g['Date'] = saved.Date;
    if (perfHadOwnNow) perf['now'] = perfNow;
    else delete perf['now'];
    g['setTimeout'] = saved.setTimeout;
    g['clearTimeout'] = saved.clearTimeout;
    g['setInterval'] = saved.setInterval;
    g['clearInterval'] = saved.clearInterval;
    g['setImmediate'] = saved.setImmediate;
    g['clearImmediate'] = saved.clearImmediate;
    process.nextTick = saved.nextTick;
    active = undefined;
  };
}
