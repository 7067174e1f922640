// Benchmarks of the checker on the public porcupine histories; `npx tsx harness/lincheck/bench.ts` prints them.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseHistory } from '../history/parse.ts';
import { checkLinearizable, type CheckOptions } from './checker.ts';
import type { AnyModel } from './model.ts';
import { casRegisterModel, kvModel } from './models.ts';

export interface BenchResult {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
}

const FIXTURES = fileURLToPath(new URL('./fixtures/porcupine/', import.meta.url));

/** A fixture's text and the verdict porcupine's suite expects (`VERDICTS.tsv`). */
interface Fixture {
  readonly file: string;
  readonly text: string;
  readonly verdict: 'linearizable' | 'not-linearizable';
}

function fixtures(files: readonly string[]): Fixture[] {
  const expected = new Map(
    readFileSync(`${FIXTURES}VERDICTS.tsv`, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split('\t') as [string, string]),
  );
  return files.map((file) => {
    const linearizable = expected.get(file);
    if (linearizable === undefined) throw new Error(`${file} has no verdict in VERDICTS.tsv`);
    const verdict = linearizable === 'true' ? 'linearizable' : 'not-linearizable';
    return { file, text: readFileSync(`${FIXTURES}${file}`, 'utf8'), verdict };
  });
}

/** Parses and checks every fixture, as `dlab history check` would; throws if a verdict is not the expected one. */
function run(all: readonly Fixture[], model: () => AnyModel, options: CheckOptions): number {
  const started = performance.now();
  for (const { file, text, verdict } of all) {
    const parsed = parseHistory(text);
    if (!parsed.ok) throw new Error(`${file} does not parse: ${parsed.error.message}`);
    const r = checkLinearizable(parsed.history, model(), options);
    if (r.verdict !== verdict) throw new Error(`${file}: expected ${verdict}, got ${r.verdict}`);
  }
  return performance.now() - started;
}

/** The median of `runs` timed runs, after one warm-up run (which lets V8 compile the hot paths). */
function measure(fn: () => number, runs = 3): number {
  fn();
  const times = Array.from({ length: runs }, fn).sort((a, b) => a - b);
  return Math.round(times[runs >> 1]! * 10) / 10;
}

export async function benchmarks(): Promise<BenchResult[]> {
  const etcd = fixtures(
    readdirSync(`${FIXTURES}jepsen`)
      .filter((n) => n.endsWith('.log') && n !== 'etcd_095.log')
      .sort()
      .map((n) => `jepsen/${n}`),
  );
  const kv10 = fixtures(['kv/c10-ok.txt', 'kv/c10-bad.txt']);
  const [ok50, bad50] = [fixtures(['kv/c50-ok.txt']), fixtures(['kv/c50-bad.txt'])];

  // Default options: a non-linearizable history is also shrunk to its counterexample, as the CLI does.
  const etcdMs = measure(() => run(etcd, casRegisterModel, {}));
  const etcdNoShrinkMs = measure(() => run(etcd, casRegisterModel, { minimiseMs: 0 }));
  const kv10Ms = measure(() => run(kv10, kvModel, {}));
  // Porcupine's hard pair: 50 clients, ten keys. c50-ok (1,712 operations) is linearizable, so every key is
  // searched to the end; c50-bad (2,024 operations) has keys that are quick to refute behind costly ones.
  const ok50Ms = measure(() => run(ok50, kvModel, {}));
  const bad50VerdictMs = measure(() => run(bad50, kvModel, { minimiseSteps: 0 }));
  const bad50Ms = measure(() => run(bad50, kvModel, {}));
  return [
    { bench: 'lincheck.etcd.total_ms', value: etcdMs, unit: 'ms' },
    { bench: 'lincheck.etcd.no_shrink_ms', value: etcdNoShrinkMs, unit: 'ms' },
    // Both measured here, in this run: what shrinking the illegal histories to counterexamples costs.
    { bench: 'lincheck.etcd.shrink_cost_ratio', value: Math.round((etcdMs / etcdNoShrinkMs) * 100) / 100, unit: 'x' },
    { bench: 'lincheck.kv_c10.total_ms', value: kv10Ms, unit: 'ms' },
    { bench: 'lincheck.kv_c50_ok.total_ms', value: ok50Ms, unit: 'ms' },
    // The verdict alone (no counterexample), then the verdict with its counterexample, as the CLI prints it.
    { bench: 'lincheck.kv_c50_bad.verdict_ms', value: bad50VerdictMs, unit: 'ms' },
    { bench: 'lincheck.kv_c50_bad.total_ms', value: bad50Ms, unit: 'ms' },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchmarks()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
