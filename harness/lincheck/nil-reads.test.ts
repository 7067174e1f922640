// Reads of nil in Jepsen and Knossos histories: a read of unknown value (Knossos's reading), or the value nil
// (strict). Each fixture's verdict under both readings, from the checker and from the brute-force oracle.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHistory, parseInitValue } from '../history/parse.ts';
import type { History } from '../history/types.ts';
import { bruteLinearizable, refOps, registerStep, type RefValue } from './brute-force.ts';
import { checkLinearizable } from './checker.ts';
import { modelByName, registerModel } from './models.ts';

const DIR = fileURLToPath(new URL('./fixtures/nil-reads/', import.meta.url));

interface Row {
  readonly file: string;
  readonly model: string;
  readonly init: string;
  readonly knossos: boolean;
  readonly strict: boolean;
}

const rows: Row[] = readFileSync(`${DIR}VERDICTS.tsv`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => {
    const [file, model, init, knossos, strict] = l.split('\t');
    return { file: file!, model: model!, init: init!, knossos: knossos === 'true', strict: strict === 'true' };
  });

function parse(file: string): History {
  const parsed = parseHistory(readFileSync(`${DIR}${file}`, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}:${parsed.error.line}: ${parsed.error.message}`);
  return parsed.history;
}

const readings: readonly (readonly ['knossos' | 'strict', 'unknown' | 'value'])[] = [
  ['knossos', 'unknown'],
  ['strict', 'value'],
];

describe('reads of nil', () => {
  it('has fixtures in both formats, some whose verdict depends on the reading', () => {
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(rows.some((r) => r.file.endsWith('.log')) && rows.some((r) => r.file.endsWith('.edn'))).toBe(true);
    expect(rows.filter((r) => r.knossos !== r.strict).length).toBeGreaterThanOrEqual(3);
  });

  it('gives each fixture the listed verdict under each reading, as the brute-force oracle does', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      const history = parse(row.file);
      const init = parseInitValue(row.init) as RefValue;
      for (const [reading, nilRead] of readings) {
        const expected = row[reading];
        const oracle = bruteLinearizable(refOps(history), init, registerStep(nilRead === 'unknown'));
        const model = modelByName(row.model, init, { nilRead })!;
        const verdict = checkLinearizable(history, model).verdict;
        const what = `${row.file} (${row.model}, init ${row.init}, ${reading})`;
        if (oracle !== expected) wrong.push(`${what}: the oracle says ${oracle}, the table ${expected}`);
        if (verdict !== (expected ? 'linearizable' : 'not-linearizable')) wrong.push(`${what}: the checker says ${verdict}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('reads nil strictly by default in the API: code that builds histories gets what it wrote', () => {
    const history = parse('stale-nil.edn');
    expect(checkLinearizable(history, registerModel()).verdict).toBe('not-linearizable');
    expect(checkLinearizable(history, registerModel(null, { nilRead: 'unknown' })).verdict).toBe('linearizable');
  });

  it('leaves a read of nil taken as unknown out of a counterexample: it fits any state, so it refutes nothing', () => {
    const r = checkLinearizable(parse('nil-then-stale.edn'), modelByName('cas-register', 0, { nilRead: 'unknown' })!);
    expect(r.verdict).toBe('not-linearizable');
    if (r.verdict !== 'not-linearizable') return;
    const cx = r.counterexample;
    expect(cx.ops[cx.culprit]!.description).toBe('read() -> 0');
    expect(cx.ops.filter((o) => o.f === 'read' && o.result === null)).toEqual([]);
    expect(cx.truncated).toBe(false);
  });
});
