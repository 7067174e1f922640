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

function texts(dir: string, names: readonly string[]): string[] {
  return names.map((n) => readFileSync(`${FIXTURES}${dir}/${n}`, 'utf8'));
}

/** Parses and checks every text, as `dlab history check` would; throws if a verdict is not the expected one. */
function run(all: readonly string[], model: () => AnyModel, options: CheckOptions): number {
  const started = performance.now();
  for (const text of all) {
    const parsed = parseHistory(text);
    if (!parsed.ok) throw new Error(`a fixture does not parse: ${parsed.error.message}`);
    const r = checkLinearizable(parsed.history, model(), options);
    if (r.verdict === 'unknown' || r.verdict === 'invalid') throw new Error(`a fixture was not decided: ${r.verdict}`);
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
  const etcdNames = readdirSync(`${FIXTURES}jepsen`)
    .filter((n) => n.endsWith('.log') && n !== 'etcd_095.log')
    .sort();
  const etcd = texts('jepsen', etcdNames);
  const kv = texts('kv', ['c10-ok.txt', 'c10-bad.txt']);

  // Default options: a non-linearizable history is also shrunk to its counterexample, as the CLI does.
  const etcdMs = measure(() => run(etcd, casRegisterModel, {}));
  const etcdNoShrinkMs = measure(() => run(etcd, casRegisterModel, { minimiseMs: 0 }));
  const kvMs = measure(() => run(kv, kvModel, {}));
  return [
    { bench: 'lincheck.etcd.total_ms', value: etcdMs, unit: 'ms' },
    { bench: 'lincheck.etcd.no_shrink_ms', value: etcdNoShrinkMs, unit: 'ms' },
    // Both measured here, in this run: what shrinking the illegal histories to counterexamples costs.
    { bench: 'lincheck.etcd.shrink_cost_ratio', value: Math.round((etcdMs / etcdNoShrinkMs) * 100) / 100, unit: 'x' },
    { bench: 'lincheck.kv_c10.total_ms', value: kvMs, unit: 'ms' },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchmarks()) process.stdout.write(`${JSON.stringify(r)}\n`);
}
