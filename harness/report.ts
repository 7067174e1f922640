// The one error a hidden test throws when a property fails: a readable report plus the data to replay it.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { runConfig, type RunConfig } from './run-config.ts';

export interface FailureFacts {
  /** The violated property, in plain words ("every node replays the same order"). */
  readonly property: string;
  /** The seed that reproduces the failure with `dlab replay`. */
  readonly seed?: number;
  /** fast-check's shrink path, when the case came from fast-check. */
  readonly path?: string;
  /** The command that replays this case. */
  readonly replay?: string;
}

/**
 * Thrown by checkers and property helpers. `message` is the whole report (property, counterexample, seed,
 * schedule, diagram, replay command); `dlab` carries the structured facts the runner records.
 * Vitest serialises own enumerable fields, so the runner sees `dlab` on the failure.
 */
export class PropertyFailure extends Error {
  readonly dlab: FailureFacts;

  constructor(report: string, facts: FailureFacts) {
    super(report);
    this.name = 'PropertyFailure';
    this.dlab = { ...facts };
  }
}

/** Where a replay notes the fixed seed of every property it passed by (see noteReplayable). */
export function replaySeedsFile(replayOut: string): string {
  return `${replayOut}.seeds`;
}

/**
 * In a replay, notes that a property with fixed seed `base` exists, whether or not it owns the replayed
 * seed: when none does, `dlab replay` names the seeds there are instead of reporting a pass.
 */
export function noteReplayable(base: number, cfg: RunConfig = runConfig()): void {
  if (cfg.replay === undefined || cfg.replayOut === undefined) return;
  appendFileSync(replaySeedsFile(cfg.replayOut), `${base}\n`);
}

const replayFilesWritten = new Set<string>();

/** Writes text to runConfig().replayOut: the first write in a process replaces the file, later ones append. */
export function writeReplayOut(text: string, cfg: RunConfig = runConfig()): void {
  const out = cfg.replayOut;
  if (out === undefined) return;
  if (replayFilesWritten.has(out) && existsSync(out)) appendFileSync(out, '\n' + text);
  else {
    writeFileSync(out, text);
    replayFilesWritten.add(out);
  }
}
