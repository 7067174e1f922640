// fast-check properties with dlab's failure report: plain-words property, counterexample, seed, replay.
// One report for every kind of check: sync properties, async ones (real sockets), and hand-built cases.
import fc from 'fast-check';
import { mark, patientElapsedMs } from './patience.ts';
import { noteReplayable, PropertyFailure, writeReplayOut } from './report.ts';
import { countsOf, isReplayOf, replayCommand, runConfig, SEED_STRIDE, seedFor, type RunConfig } from './run-config.ts';

export interface PropertyOptions {
  /** Runs per fixed seed (default 200 for checkProperty, 30 for checkAsyncProperty). */
  readonly numRuns?: number;
  /** The fixed seed for this property, distinct within the exercise, in [0, 65536) (see SEED_STRIDE). */
  readonly seed: number;
  /** Hand-picked inputs tried first, so a classic bug fails fast and with a small example. */
  readonly examples?: readonly unknown[][];
}

export interface AsyncPropertyOptions extends PropertyOptions {
  /**
   * Stop generating and shrinking after this long (default 8000 ms, not counting time spent waiting for a CPU
   * on a busy machine); running out counts as a failure.
   */
  readonly budgetMs?: number;
}

type Arbs<Ts extends unknown[]> = { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };

/** The fast-check parameters for this run, or undefined when a replay names another property. */
function parameters<Ts>(what: string, opts: PropertyOptions, defaultRuns: number, cfg: RunConfig): fc.Parameters<Ts> | undefined {
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed >= SEED_STRIDE) throw new Error(`${what}: seed ${opts.seed} must be an integer in [0, ${SEED_STRIDE})`);
  // A replay names one property by its seed; every other property of the file stands aside.
  noteReplayable(opts.seed, cfg);
  if (cfg.replay !== undefined && !isReplayOf(opts.seed, cfg)) return undefined;
  return {
    seed: cfg.replay?.seed ?? seedFor(opts.seed, cfg),
    numRuns: opts.numRuns ?? defaultRuns,
    ...(cfg.replay?.path !== undefined ? { path: cfg.replay.path } : {}),
    // Examples come first in fast-check's numbering, so they stay in a replay to keep paths valid.
    ...(opts.examples !== undefined ? { examples: opts.examples as Ts[] } : {}),
  };
}

/** Turns fast-check's run details into dlab's verdict: nothing on success, a PropertyFailure on failure. */
function conclude<Ts extends unknown[]>(property: string, details: fc.RunDetails<Ts>, cfg: RunConfig, interruptedWhy?: string): void {
  const replaying = cfg.replay !== undefined;
  if (!details.failed) {
    if (replaying) writeReplayOut(`✓ ${property}\n  this case passes now (seed ${details.seed}${cfg.replay?.path !== undefined ? `, path ${cfg.replay.path}` : ''})\n`, cfg);
    return;
  }
  const example = details.counterexample === null ? '(none)' : details.counterexample.map((v: unknown) => fc.stringify(v)).join(', ');
  const reason =
    details.errorInstance instanceof Error
      ? details.errorInstance.message
      : details.interrupted && interruptedWhy !== undefined
        ? interruptedWhy
        : 'the check returned false';
  const replay = replayCommand(details.seed, details.counterexamplePath ?? undefined, cfg);
  // A replay runs the one case its path names; the path also says how it was first found, so the report
  // reads the same as the one it came from.
  const path = cfg.replay?.path;
  const { runs, shrinks } = path !== undefined ? countsOf(path) : { runs: details.numRuns, shrinks: details.numShrinks };
  const report = [
    `Property violated: ${property}`,
    `Counterexample: ${example}`,
    `Why: ${reason}`,
    `Found after ${runs} run${runs === 1 ? '' : 's'}, shrunk ${shrinks} time${shrinks === 1 ? '' : 's'}; seed ${details.seed}, path ${details.counterexamplePath ?? '-'}`,
    `Replay: ${replay}`,
  ].join('\n');
  if (replaying) writeReplayOut(report + '\n', cfg);
  throw new PropertyFailure(report, {
    property,
    seed: details.seed,
    ...(details.counterexamplePath !== null ? { path: details.counterexamplePath } : {}),
    replay,
  });
}

/**
 * Checks `predicate` on values from `arbs`; a predicate fails by returning false or throwing.
 * On failure throws PropertyFailure: the property in plain words, the shrunk counterexample, the reason,
 * the seed and the replay command. Under `dlab replay` it runs exactly the given seed and path.
 */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(
  property: string,
  arbs: Arbs<Ts>,
  predicate: (...args: Ts) => boolean | void,
  opts: PropertyOptions,
  cfg: RunConfig = runConfig(),
): void {
  const params = parameters<Ts>('checkProperty', opts, 200, cfg);
  if (params === undefined) return;
  const prop = fc.property(...(arbs as unknown as [fc.Arbitrary<unknown>]), ((...args: unknown[]) => predicate(...(args as Ts))) as never);
  conclude(property, fc.check(prop as unknown as fc.IProperty<Ts>, params), cfg);
}

/** The async twin of checkProperty, for predicates that await sockets; bounded by a time budget. */
export async function checkAsyncProperty<Ts extends [unknown, ...unknown[]]>(
  property: string,
  arbs: Arbs<Ts>,
  predicate: (...args: Ts) => Promise<boolean | void>,
  opts: AsyncPropertyOptions,
  cfg: RunConfig = runConfig(),
): Promise<void> {
  const params = parameters<Ts>('checkAsyncProperty', opts, 30, cfg);
  if (params === undefined) return;
  const budgetMs = opts.budgetMs ?? 8000;
  // The budget is patient time (patience.ts): time spent waiting for a CPU on a busy machine does not count.
  const start = mark();
  let over = false;
  const prop = fc.asyncProperty(...(arbs as unknown as [fc.Arbitrary<unknown>]), (async (...args: unknown[]) => {
    if (over || patientElapsedMs(start) > budgetMs) {
      over = true;
      return true;
    }
    return predicate(...(args as Ts));
  }) as never);
  const ran = await fc.check(prop as unknown as fc.IAsyncProperty<Ts>, params);
  const details = over && !ran.failed ? ({ ...ran, failed: true, interrupted: true, counterexample: null, counterexamplePath: null, errorInstance: null } as fc.RunDetails<Ts>) : ran;
  conclude(property, details, cfg, `the runs did not finish within ${budgetMs / 1000} s (each request should take milliseconds)`);
}

/**
 * Fails a hand-built scenario with the same report layout as a property: the property in plain words,
 * the concrete case (requests, certificates, timings), and why it broke.
 */
export function violated(property: string, example: string, why: string): never {
  throw new PropertyFailure([`Property violated: ${property}`, `Counterexample: ${example}`, `Why: ${why}`].join('\n'), { property });
}

/** Runs a hand-built scenario check: if `ok` is false, fails with violated(). */
export function holds(ok: boolean, property: string, example: string, why: () => string): void {
  if (!ok) violated(property, example, why());
}
