// simProperty: runs a world under many fault schedules, shrinks a failure, and throws dlab's failure report.
import fc from 'fast-check';
import { noteReplayable, PropertyFailure, writeReplayOut } from '../report.ts';
import { countsOf, isReplayOf, replayCommand, runConfig, SEED_STRIDE, seedFor, type ReplayView, type RunConfig } from '../run-config.ts';
import { causalView, mentionedNodes, mentionedTimes, quotedStrings, type CausalView } from './causal.ts';
import type { DiagramOptions } from './render.ts';
import { describeSchedule, type FaultEvent, type Schedule } from './faults.ts';
import { ms } from './format.ts';
import { hashString } from './rng.ts';
import { createSim, type AnyProc, type Invariant, type RunResult, type Sim, type SimSpec } from './sim.ts';

/** One case: the world's seed and the faults it suffers. */
export interface SimCase {
  readonly seed: number;
  readonly schedule: Schedule;
}

/** A world for one case, plus its checks. The spec's seed and faults come from the case. */
export interface World<P extends AnyProc = AnyProc> extends Omit<SimSpec<P>, 'seed' | 'faults' | 'traceLimit'> {
  /** Safety, checked after every event: return (or throw) what is wrong. */
  readonly invariant?: Invariant<P>;
  /**
   * A bound that is not safety (a deadline, a budget of frames), checked after every event once `invariant` holds:
   * its failure reads "bound exceeded at t=… ms: …", not "safety violated".
   */
  readonly bound?: Invariant<P>;
  /**
   * Liveness and efficiency, checked once after the heal and the settle window: return (or throw) what is wrong.
   * It may be async, for a check that compares against a second run (runCase) after this one has finished.
   */
  readonly check?: (sim: Sim<P>) => string | undefined | void | Promise<string | undefined | void>;
}

export interface SimPropertyOptions<P extends AnyProc = AnyProc> {
  /** The property in plain words: the first line a learner reads when it fails. */
  readonly property: string;
  /** Builds a fresh world for each case (fresh state for the checks, too). */
  readonly world: (c: SimCase) => World<P>;
  /** Schedules to try (see faultSchedule); default: no faults. */
  readonly faults?: fc.Arbitrary<Schedule>;
  /** Hand-written cases tried first, in order ("killer seeds"): they make a classic bug fail fast. */
  readonly killers?: readonly SimCase[];
  /** Cases in a graded run, killers included (default 100). */
  readonly runs?: number;
  /** Faults fall in [0, horizonMs); at horizonMs everything heals (H). */
  readonly horizonMs: number;
  /** Calm after the heal before `check` runs (default: horizonMs). */
  readonly settleMs?: number;
  /** Events one case may process before it fails as a livelock (default 200 000). */
  readonly maxSteps?: number;
  /**
   * The fixed fast-check seed, in [0, 65536) and distinct within the test file (default: derived from
   * `property`). Runs use seedFor(seed) (run-config.ts), so a replayed seed names its property.
   */
  readonly seed?: number;
  /** Cases spent on shrinking a failure, at most (default 250). */
  readonly maxShrinks?: number;
  /**
   * Trace events shown in the report's diagram (default 40). A longer run shows, in that many rows plus one
   * (the `… N events not shown` rows included), what led to the failure: its causal past (causal.ts).
   */
  readonly window?: number;
}

/** How one case went. */
export type CaseOutcome =
  | { readonly ok: true; readonly sim: Sim }
  | { readonly ok: false; readonly sim: Sim; readonly result: RunResult; readonly why: string };

const MAX_SEED = 0x7fffffff;

/** Runs one case: the world, its faults, then H at the horizon, the settle window, and the final check. */
export async function runCase<P extends AnyProc>(opts: SimPropertyOptions<P>, c: SimCase, traceLimit = 10_000): Promise<CaseOutcome> {
  const { invariant, bound, check, ...spec } = opts.world(c);
  const heal: FaultEvent = { at: opts.horizonMs, code: 'H' };
  const sim = createSim<P>({ ...spec, seed: c.seed, faults: [...c.schedule, heal], maxSteps: spec.maxSteps ?? opts.maxSteps ?? 200_000, traceLimit });
  const until = opts.horizonMs + (opts.settleMs ?? opts.horizonMs);
  let exceeded = false;
  const inv: Invariant<P> | undefined =
    bound === undefined
      ? invariant
      : (s) => {
          const v = invariant?.(s);
          if (typeof v === 'string') return v;
          exceeded = true; // a throw from bound counts as its failure too
          const b = bound(s);
          exceeded = typeof b === 'string';
          return b;
        };
  const result = await sim.run(inv === undefined ? { until } : { until, invariant: inv });
  const anySim = sim as unknown as Sim;
  switch (result.kind) {
    case 'violation':
      return { ok: false, sim: anySim, result, why: `${exceeded ? 'bound exceeded' : 'safety violated'} at t=${ms(result.time)} ms: ${result.message}` };
    case 'livelock':
      return { ok: false, sim: anySim, result, why: result.message };
    case 'error':
      return { ok: false, sim: anySim, result, why: result.message };
    case 'ok':
      break;
  }
  if (check !== undefined) {
    let v: string | undefined | void;
    try {
      v = await check(sim);
    } catch (e) {
      v = e instanceof Error ? e.message : String(e);
    }
    if (typeof v === 'string') {
      return { ok: false, sim: anySim, result, why: `after the heal at t=${ms(opts.horizonMs)} ms and ${ms(until - opts.horizonMs)} ms to settle: ${v}` };
    }
  }
  return { ok: true, sim: anySim };
}

class CaseFailed extends Error {}


interface Found {
  readonly c: SimCase;
  readonly seed: number;
  readonly path: string | undefined;
  readonly runs: number;
  readonly shrinks: number;
  /** Why the case failed when fast-check ran it. */
  readonly why: string;
}

function report<P extends AnyProc>(opts: SimPropertyOptions<P>, found: Found, out: CaseOutcome & { ok: false }, cfg: RunConfig, full: boolean, reproduced: boolean): string {
  const killers = opts.killers?.length ?? 0;
  const index = found.path === undefined ? NaN : Number(found.path.split(':')[0]);
  const origin = index < killers ? ` (hand-written case ${index + 1})` : '';
  const settle = opts.settleMs ?? opts.horizonMs;
  const n = found.c.schedule.length;
  const window = opts.window ?? 40;
  const view = full ? viewOf(out.sim, out.result.traceEnd, cfg.replayView) : undefined;
  const end = out.result.traceEnd;
  const events = end - out.sim.trace.first;
  // A long run shows what led to the failure (its causal past, repeats collapsed), not merely its last events.
  const causal = full || end - out.sim.trace.first <= window ? undefined : causalOf(out, window);
  const diagram = full
    ? out.sim.diagram(view?.opts ?? { to: end })
    : causal !== undefined
      ? out.sim.diagram({ to: end, indexes: causal.indexes, gapNote: causal.gapNote })
      : out.sim.diagram({ to: end, last: window });
  const lines = [
    `✗ ${opts.property}`,
    `  ${out.why.split('\n').join('\n  ')}`,
    ...(reproduced ? [] : ['  (this failure did not happen again when the case was re-run: does your code keep state outside its node, in a module-level variable?)']),
    '',
    `  seed ${found.seed}${found.path !== undefined ? ` · path ${found.path}` : ''} · world seed ${found.c.seed}${origin} · ` +
      (full ? 'replayed' : `found after ${found.runs} case${found.runs === 1 ? '' : 's'}, shrunk ${found.shrinks} time${found.shrinks === 1 ? '' : 's'}`),
    `  fault schedule${found.shrinks > 0 ? ' (shrunk)' : ''}, ${n} event${n === 1 ? '' : 's'}; then H at t=${opts.horizonMs} ms and ${settle} ms to settle:`,
    describeSchedule(found.c.schedule, '    '),
    '',
    full
      ? `  space-time diagram of ${view?.what ?? 'the whole run, up to the failure'}:`
      : causal !== undefined
        ? `  space-time diagram of how the failure came about: ${causal.indexes.length} of the ${causal.total} events before it, from its causal past, with the faults and lost messages (the whole run: the replay command below):`
        : events === 0
          ? '  space-time diagram: nothing happened before the failure (no node sent a message or set a timer)'
          : events <= window && out.sim.trace.first === 0
            ? `  space-time diagram of the whole run up to the failure, ${events} event${events === 1 ? '' : 's'}:`
            : `  space-time diagram, the last ${window} events up to the failure (the whole run: the replay command below):`,
    ...(events === 0 && !full
      ? []
      : [
          diagram
            .split('\n')
            .map((l) => '    ' + l)
            .join('\n'),
        ]),
    ...(out.result.kind === 'ok' ? [`    … the final check ran at t=${ms(out.result.time)} ms${quietSince(out.sim, out.result.traceEnd)}`] : []),
    '',
    `  replay: ${replayCommand(found.seed, found.path, cfg)}`,
  ];
  return lines.join('\n');
}

/**
 * Checks a property of a simulated world over many fault schedules, deterministically: fixed seeds
 * (shifted by runConfig().seedShift), the hand-written killers first, then generated schedules; a failure
 * is shrunk and thrown as a PropertyFailure whose message is the whole report. Under `dlab replay`
 * (runConfig().replay) it runs exactly that case and writes the report with the whole diagram to
 * runConfig().replayOut. (`dlab check --explore N` re-runs the whole file on other seed families.)
 */
export async function simProperty<P extends AnyProc>(opts: SimPropertyOptions<P>, cfg: RunConfig = runConfig()): Promise<void> {
  const killers = opts.killers ?? [];
  const arb = fc.record({
    seed: fc.noShrink(fc.integer({ min: 0, max: MAX_SEED })),
    schedule: (opts.faults ?? fc.constant([])) as fc.Arbitrary<Schedule>,
  });
  const examples = killers.map((k) => [k] as [SimCase]);
  const base = opts.seed ?? hashString(opts.property) % SEED_STRIDE;
  if (!Number.isInteger(base) || base < 0 || base >= SEED_STRIDE) throw new Error(`simProperty(${JSON.stringify(opts.property)}): seed ${base} must be an integer in [0, ${SEED_STRIDE})`);
  const runs = Math.max(opts.runs ?? 100, killers.length);
  const maxShrinks = opts.maxShrinks ?? 250;

  const attempt = async (seed: number, numRuns: number, path: string | undefined): Promise<Found | 'passed'> => {
    let failures = 0;
    let afterFailure = 0;
    let last: SimCase | undefined;
    const prop = fc.asyncProperty(arb, async (c) => {
      // Past the shrink budget every case "passes", so fast-check stops at the smallest failure found so far.
      if (failures > 0 && ++afterFailure > maxShrinks) return true;
      last = c;
      const out = await runCase(opts, c);
      if (out.ok) return true;
      failures++;
      throw new CaseFailed(out.why);
    });
    const details = await fc.check(prop, {
      seed,
      numRuns,
      examples,
      ...(path !== undefined ? { path, endOnFailure: true } : {}),
    });
    if (!details.failed) {
      if (path !== undefined && last !== undefined) return { c: last, seed, path, runs: 1, shrinks: 0, why: '' };
      return 'passed';
    }
    if (details.counterexample === null) {
      throw new Error(`simProperty(${JSON.stringify(opts.property)}): fast-check stopped without a counterexample (interrupted or too many skipped cases)`);
    }
    const why = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    return { c: details.counterexample[0], seed: details.seed, path: details.counterexamplePath ?? undefined, runs: details.numRuns, shrinks: details.numShrinks, why };
  };

  if (cfg.replay !== undefined) {
    // A replay names one property by its seed; every other property of the file stands aside.
    noteReplayable(base, cfg);
    if (!isReplayOf(base, cfg)) return;
    // With a path, fast-check replays exactly that case; without one, the seed's cases run as in a graded run.
    const found = await attempt(cfg.replay.seed, cfg.replay.path !== undefined ? 1 : runs, cfg.replay.path);
    if (found === 'passed') {
      writeReplayOut(`✓ ${opts.property}\n  no failing case with seed ${cfg.replay.seed}\n`, cfg);
      return;
    }
    // The path says how the case was found (its run's index, then one step per shrink): the report of the
    // replayed case reads the same as the one it came from.
    const replayed = found.path !== undefined ? { ...found, ...countsOf(found.path) } : found;
    const out = await runCase(opts, replayed.c, Infinity);
    if (out.ok) {
      const view = viewOf(out.sim, out.sim.trace.length, cfg.replayView);
      const diagram = out.sim.diagram(view?.opts);
      writeReplayOut(`✓ ${opts.property}\n  this case passes now (seed ${found.seed}${found.path !== undefined ? `, path ${found.path}` : ''})\n${view === undefined ? '' : `  space-time diagram of ${view.what}:\n`}\n${diagram}\n`, cfg);
      return;
    }
    writeReplayOut(report(opts, replayed, out, cfg, true, true) + '\n', cfg);
    throw new PropertyFailure(report(opts, replayed, out, cfg, false, true), facts(opts.property, replayed, cfg));
  }

  const found = await attempt(seedFor(base, cfg), runs, undefined);
  if (found === 'passed') return;
  // Re-run the shrunk case to draw its diagram: a deterministic world fails the same way again.
  const again = await runCase(opts, found.c);
  const out: CaseOutcome & { ok: false } = again.ok
    ? { ok: false, sim: again.sim, result: { kind: 'violation', message: found.why, time: again.sim.now, steps: again.sim.stats.steps, traceEnd: again.sim.trace.length }, why: found.why }
    : again;
  throw new PropertyFailure(report(opts, found, out, cfg, false, !again.ok), facts(opts.property, found, cfg));
}

/**
 * The part of a replayed run `dlab replay --from/--to/--nodes/--hide-sends` asked for, as diagram options over
 * trace indexes up to `end`, and in words for the diagram's heading. Names that are no endpoint of the run are
 * left out and said so; undefined when no view was asked for.
 */
export function viewOf(sim: Sim, end: number, v: ReplayView | undefined): { opts: DiagramOptions; what: string } | undefined {
  if (v === undefined || (v.fromMs === undefined && v.toMs === undefined && v.nodes === undefined && v.hideSends !== true)) return undefined;
  const trace = sim.trace;
  let from = trace.first;
  let to = end;
  if (v.fromMs !== undefined) {
    while (from < to && (trace.at(from)?.time ?? Infinity) < v.fromMs) from++;
  }
  if (v.toMs !== undefined) {
    let i = from;
    while (i < to && (trace.at(i)?.time ?? Infinity) <= (v.toMs as number)) i++;
    to = i;
  }
  const known = new Set<string>(trace.names);
  // Only unknown names: every column, rather than none.
  const named = v.nodes?.filter((n) => known.has(n));
  const nodes = named === undefined || named.length === 0 ? undefined : named;
  const unknown = v.nodes?.filter((n) => !known.has(n)) ?? [];
  const parts = [
    v.fromMs === undefined && v.toMs === undefined
      ? 'the whole run, up to the failure'
      : `the run from t=${ms(v.fromMs ?? 0)} ms to ${v.toMs === undefined ? 'the failure' : `t=${ms(v.toMs)} ms`}`,
    ...(nodes !== undefined ? [`nodes ${nodes.join(', ')}`] : []),
    ...(v.hideSends === true ? ['sends hidden'] : []),
  ];
  const what =
    parts.join(', ') +
    (unknown.length > 0 ? ` (no node named ${unknown.map((n) => `'${n}'`).join(', ')}; the run's endpoints are ${trace.names.join(', ')})` : '');
  return {
    opts: { from, to, ...(nodes !== undefined ? { nodes, onlyNodes: true } : {}), ...(v.hideSends === true ? { hideSends: true } : {}) },
    what,
  };
}

/**
 * The rows of a report's diagram for a long run (causal.ts): the walk starts from the last event before the
 * failure and from the endpoints the failure's message names; the times it names and the strings it quotes
 * point at events to show early.
 */
function causalOf(out: CaseOutcome & { ok: false }, window: number): CausalView {
  const trace = out.sim.trace;
  return causalView(trace, out.result.traceEnd, {
    budget: window + 1,
    nodes: mentionedNodes(out.why, trace.names),
    times: mentionedTimes(out.why),
    values: quotedStrings(out.why),
  });
}

function quietSince(sim: Sim, end: number): string {
  const last = sim.trace.at(end - 1);
  return last === undefined ? '' : ` (nothing happened after t=${ms(last.time)} ms)`;
}

function facts(property: string, found: Found, cfg: RunConfig): ConstructorParameters<typeof PropertyFailure>[1] {
  return {
    property,
    seed: found.seed,
    ...(found.path !== undefined ? { path: found.path } : {}),
    replay: replayCommand(found.seed, found.path, cfg),
  };
}
