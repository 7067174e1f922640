// How the grader's runner steers a hidden test: which seeds to use, whether to replay one case.
// The runner sets these environment variables in the test worker; nothing else reads them.

/** One run of a hidden test, as the runner asked for it. */
export interface RunConfig {
  /** The exercise id (`NN-chapter/MM-exercise`), when the runner set it. */
  readonly exercise: string | undefined;
  /**
   * Which family of seeds to use: 0 for a graded run; `dlab verify` and `--explore` use others. A property's
   * seed is `base + seedShift * SEED_STRIDE` (see seedFor), so every seed still names the property it came from.
   */
  readonly seedShift: number;
  /** Set by `dlab replay`: run only this case and print the full trace. */
  readonly replay: { readonly seed: number; readonly path: string | undefined } | undefined;
  /** The `--target` the learner graded, so that a replay command can name it again. */
  readonly target: string | undefined;
  /** Set by `dlab replay`: the file the replayed case writes its full report and diagram to. */
  readonly replayOut: string | undefined;
  /** Set by `dlab compare`: the file behaviour metrics are appended to (see metrics.ts). */
  readonly metricsOut: string | undefined;
  /** Set by `dlab replay --from/--to/--nodes/--hide-sends`: which part of the replayed run's diagram to draw. */
  readonly replayView?: ReplayView | undefined;
  /** Set by `npm run bench`: the file every simulation appends its events and wall time to (see sim.ts). */
  readonly simStatsOut?: string | undefined;
}

/** The part of a replayed run's space-time diagram to draw (times in virtual ms, inclusive). */
export interface ReplayView {
  readonly fromMs?: number;
  readonly toMs?: number;
  readonly nodes?: readonly string[];
  readonly hideSends?: boolean;
}

export const ENV = {
  exercise: 'DLAB_EXERCISE',
  seedShift: 'DLAB_SEED_SHIFT',
  replay: 'DLAB_REPLAY',
  target: 'DLAB_TARGET',
  replayOut: 'DLAB_REPLAY_OUT',
  metricsOut: 'DLAB_METRICS_OUT',
  replayView: 'DLAB_REPLAY_VIEW',
  simStatsOut: 'DLAB_SIM_STATS_OUT',
} as const;

/** A replay view as the runner passes it (JSON); encodeReplayView's inverse is in runConfig. */
export function encodeReplayView(v: ReplayView): string {
  return JSON.stringify(v);
}

function replayViewOf(raw: string | undefined): ReplayView | undefined {
  if (raw === undefined || raw === '') return undefined;
  let j: unknown;
  try {
    j = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const o = j as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : undefined);
  const fromMs = num(o['fromMs']);
  const toMs = num(o['toMs']);
  const nodes = Array.isArray(o['nodes']) && o['nodes'].every((n) => typeof n === 'string') ? (o['nodes'] as string[]) : undefined;
  return {
    ...(fromMs !== undefined ? { fromMs } : {}),
    ...(toMs !== undefined ? { toMs } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
    ...(o['hideSends'] === true ? { hideSends: true } : {}),
  };
}

function int(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : fallback;
}

/** Reads the run configuration from an environment (the process's by default). */
export function runConfig(env: Readonly<Record<string, string | undefined>> = process.env): RunConfig {
  const replayRaw = env[ENV.replay];
  let replay: RunConfig['replay'];
  if (replayRaw !== undefined && replayRaw !== '') {
    // "<seed>" or "<seed>:<path>"; fast-check paths look like "3:1:0".
    const at = replayRaw.indexOf(':');
    const seed = Number(at < 0 ? replayRaw : replayRaw.slice(0, at));
    if (Number.isSafeInteger(seed)) replay = { seed, path: at < 0 ? undefined : replayRaw.slice(at + 1) || undefined };
  }
  const target = env[ENV.target];
  return {
    exercise: env[ENV.exercise] || undefined,
    seedShift: int(env[ENV.seedShift], 0),
    replay,
    target: target === undefined || target === '' || target === 'exercises' ? undefined : target,
    replayOut: env[ENV.replayOut] || undefined,
    metricsOut: env[ENV.metricsOut] || undefined,
    replayView: replayViewOf(env[ENV.replayView]),
    simStatsOut: env[ENV.simStatsOut] || undefined,
  };
}

/**
 * Base seeds of an exercise's properties are distinct numbers in [0, SEED_STRIDE); shifts move whole
 * families, so `seed mod SEED_STRIDE` tells which property a seed belongs to.
 */
export const SEED_STRIDE = 65_536;

/** The seed a property with fixed `base` seed uses in this run. */
export function seedFor(base: number, cfg: RunConfig = runConfig()): number {
  return base + cfg.seedShift * SEED_STRIDE;
}

/** In a replay, whether the property with fixed `base` seed is the one to replay (others are skipped). */
export function isReplayOf(base: number, cfg: RunConfig = runConfig()): boolean {
  if (cfg.replay === undefined) return false;
  return (((cfg.replay.seed - base) % SEED_STRIDE) + SEED_STRIDE) % SEED_STRIDE === 0;
}

/** The command that replays one failing case, as a learner would type it. */
export function replayCommand(seed: number, path?: string, cfg: RunConfig = runConfig()): string {
  const id = cfg.exercise ?? '<exercise>';
  let cmd = `npx dlab replay ${id} --seed ${seed}`;
  if (path !== undefined && path !== '') cmd += ` --path ${path}`;
  if (cfg.target !== undefined) cmd += ` --target ${cfg.target}`;
  return cmd;
}

/**
 * How a case was found, read from its fast-check path: the first number is the index of the failing run
 * (so that many runs plus one), each further number one shrink step.
 */
export function countsOf(path: string): { runs: number; shrinks: number } {
  const parts = path.split(':');
  const first = Number(parts[0]);
  return { runs: Number.isInteger(first) && first >= 0 ? first + 1 : 1, shrinks: Math.max(0, parts.length - 1) };
}
