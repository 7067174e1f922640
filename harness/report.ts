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
