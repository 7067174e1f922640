// `dlab history check FILE... --model M [--init V] [--json]`: linearizability of history files, one verdict each.
import { readFile } from 'node:fs/promises';
import { parseHistory, parseInitValue } from '../history/parse.ts';
import type { History } from '../history/types.ts';
import { checkLinearizable, validateHistory, type Counterexample, type CounterexampleOp } from './checker.ts';
import { MODEL_NAMES, modelByName } from './models.ts';
import { renderCounterexample } from './render.ts';

export interface HistoryCheckOptions {
  readonly files: readonly string[];
  readonly model: string;
  readonly init?: string;
  readonly json: boolean;
  /**
   * Read a completed read of nil as the value nil (`--strict-nil`), not as Knossos does: a read of unknown value
   * (see `RegisterOptions`). Only the register models read nil.
   */
  readonly strictNil?: boolean;
  /** Search steps per file (the checker's default otherwise); past them the file's verdict is `unknown`. */
  readonly maxSteps?: number;
  /**
   * A wall-clock safety net per file, in ms (default 60 000), for a machine too loaded to spend the step budget
   * in reasonable time: only then can the verdict depend on the machine. `unknown` past it.
   */
  readonly timeoutMs?: number;
}

/** The CLI's wall-clock safety net per file: far above what the default step budget takes on an idle machine. */
const SAFETY_NET_MS = 60_000;

export interface HistoryCheckIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  /** Reports bad input in place of writing it to stderr (the dlab CLI prints it its own way, JSON under --json). */
  readonly badInput?: (reason: string, next: string) => void;
}

/** A counterexample operation in `--json` output: the checker's, plus the file lines it came from. */
export interface JsonCounterexampleOp extends CounterexampleOp {
  readonly invokeLine: number;
  readonly completeLine: number | null;
}

export interface JsonCounterexample extends Omit<Counterexample, 'ops'> {
  readonly ops: readonly JsonCounterexampleOp[];
}

/** One element of the `--json` array. */
export interface JsonVerdict {
  readonly file: string;
  readonly verdict: 'linearizable' | 'not-linearizable' | 'unknown';
  readonly durationMs: number;
  readonly ops: number;
  readonly counterexample?: JsonCounterexample;
  /** Why the verdict is `unknown`. */
  readonly reason?: string;
}

export const EXIT = { linearizable: 0, notLinearizable: 1, badInput: 2, unknown: 3 } as const;

const USAGE = 'dlab history check FILE... --model register|cas-register|kv [--init VALUE] [--strict-nil] [--json]';

/**
 * Checks each file and returns the exit code: 0 all linearizable, 1 any not linearizable, 2 bad input (nothing
 * is checked then), 3 any undecided (and none shown not linearizable). Verdicts depend only on the files and the
 * options (step budgets), except past the wall-clock safety net.
 */
export async function historyCheck(opts: HistoryCheckOptions, io: HistoryCheckIo): Promise<number> {
  const fail = (reason: string, next: string): number => {
    if (io.badInput !== undefined) io.badInput(reason, next);
    else io.stderr.write(`dlab history check: ${reason}\n  ${next}\n`);
    return EXIT.badInput;
  };
  if (opts.files.length === 0) return fail('no history file given', `usage: ${USAGE}`);
  // In Jepsen and Knossos files a read of nil is a read whose value is unknown, unless asked otherwise.
  const model = modelByName(opts.model, opts.init === undefined ? undefined : parseInitValue(opts.init), {
    nilRead: opts.strictNil === true ? 'value' : 'unknown',
  });
  if (model === undefined) {
    return fail(`unknown model "${opts.model}"`, `use --model ${MODEL_NAMES.join(', --model ')}`);
  }

  // Read and validate everything first: bad input means no verdicts at all, never half a report.
  const inputs: { file: string; history: History; lines: readonly number[] }[] = [];
  for (const file of opts.files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : (code ?? String(e));
      return fail(`cannot read ${file}: ${why}`, 'check the path (one history file per argument)');
    }
    const parsed = parseHistory(text);
    if (!parsed.ok) {
      const { line, message } = parsed.error;
      return fail(
        `${file}:${line}: ${message}`,
        'fix that line; a history is Jepsen log lines ("INFO jepsen.util - 0 :invoke :read nil") ' +
          'or EDN maps ({:process 0, :type :invoke, :f :read, :value nil})',
      );
    }
    if (parsed.history.length === 0) return fail(`no operations in ${file}`, 'a history is Jepsen log lines ("INFO jepsen.util - 0 :invoke :read nil") or EDN maps ({:process 0, :type :invoke, :f :read, :value nil})');
    const invalid = validateHistory(parsed.history, model);
    if (invalid !== undefined) {
      const line = parsed.lines[invalid.index];
      return fail(
        `${file}:${line ?? '?'}: ${invalid.message.replace(/^event \d+: /, '')}`,
        `is --model ${opts.model} the right model for this history?`,
      );
    }
    inputs.push({ file, history: parsed.history, lines: parsed.lines });
  }

  const results: JsonVerdict[] = [];
  let sawIllegal = false;
  let sawUnknown = false;
  for (const { file, history, lines } of inputs) {
    const r = checkLinearizable(history, model, {
      timeoutMs: opts.timeoutMs ?? SAFETY_NET_MS,
      ...(opts.maxSteps === undefined ? {} : { maxSteps: opts.maxSteps }),
    });
    const durationMs = Math.round(r.durationMs * 10) / 10;
    switch (r.verdict) {
      case 'linearizable':
        results.push({ file, verdict: 'linearizable', durationMs, ops: r.ops });
        if (!opts.json) io.stdout.write(`${file}: linearizable (${r.ops} ops, ${durationMs} ms)\n`);
        break;
      case 'not-linearizable': {
        sawIllegal = true;
        const cx = withLines(r.counterexample, lines);
        results.push({ file, verdict: 'not-linearizable', durationMs, ops: r.ops, counterexample: cx });
        if (!opts.json) {
          const text = renderCounterexample(r.counterexample, { lineOf: lines });
          io.stdout.write(`${file}: not linearizable (${r.ops} ops, ${durationMs} ms)\n${indent(text)}\n`);
        }
        break;
      }
      case 'unknown':
        sawUnknown = true;
        results.push({ file, verdict: 'unknown', durationMs, ops: r.ops, reason: r.reason });
        if (!opts.json) io.stdout.write(`${file}: unknown (${r.ops} ops, ${durationMs} ms): ${r.reason}\n`);
        break;
      case 'invalid':
        // validateHistory accepted this history; the checker reads it the same way.
        return fail(`${file}: ${r.error.message}`, `is --model ${opts.model} the right model for this history?`);
    }
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(results, jsonSafe, 2)}\n`);
  return sawIllegal ? EXIT.notLinearizable : sawUnknown ? EXIT.unknown : EXIT.linearizable;
}

function withLines(cx: Counterexample, lines: readonly number[]): JsonCounterexample {
  return {
    ...cx,
    ops: cx.ops.map((op) => ({
      ...op,
      invokeLine: lines[op.invokeIndex]!,
      completeLine: op.completeIndex === null ? null : lines[op.completeIndex]!,
    })),
  };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');
}

/** EDN integers beyond 2^53 are bigints, which JSON cannot hold: they become strings. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
