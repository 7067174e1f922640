// Every public porcupine history (Jepsen etcd logs, kv EDN files) gets the verdict porcupine's own suite asserts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHistory } from '../history/parse.ts';
import type { History } from '../history/types.ts';
import { checkLinearizable, type CheckResult } from './checker.ts';
import type { AnyModel } from './model.ts';
import { casRegisterModel, kvModel, type RegisterOptions } from './models.ts';

const DIR = fileURLToPath(new URL('./fixtures/porcupine/', import.meta.url));

const verdicts = readFileSync(`${DIR}VERDICTS.tsv`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => {
    const [file, linearizable] = l.split('\t');
    return { file: file!, linearizable: linearizable === 'true' };
  });

function parse(file: string): History {
  const parsed = parseHistory(readFileSync(`${DIR}${file}`, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}:${parsed.error.line}: ${parsed.error.message}`);
  return parsed.history;
}

const checked = new Map<string, CheckResult>();

/** The checker's result on a fixture; each file and reading is checked once for the whole suite. */
function verdictOf(file: string, options: RegisterOptions = {}): CheckResult {
  const id = `${file} ${options.nilRead ?? 'value'}`;
  const known = checked.get(id);
  if (known !== undefined) return known;
  const model: AnyModel = file.startsWith('kv/') ? kvModel() : casRegisterModel(null, options);
  const r = checkLinearizable(parse(file), model);
  checked.set(id, r);
  return r;
}

describe('porcupine histories', () => {
  it('lists 102 etcd histories and six kv histories', () => {
    expect(verdicts.filter((v) => v.file.startsWith('jepsen/'))).toHaveLength(102);
    expect(verdicts.filter((v) => v.file.startsWith('kv/'))).toHaveLength(6);
  });

  it('matches every expected verdict', () => {
    const wrong: string[] = [];
    for (const { file, linearizable } of verdicts) {
      const r = verdictOf(file);
      const expected = linearizable ? 'linearizable' : 'not-linearizable';
      if (r.verdict !== expected) wrong.push(`${file}: expected ${expected}, got ${r.verdict}`);
    }
    expect(wrong).toEqual([]);
  });

  it('matches them too when a read of nil is a read of unknown value, as `dlab history check` reads Jepsen logs', () => {
    const wrong: string[] = [];
    for (const { file, linearizable } of verdicts.filter((v) => v.file.startsWith('jepsen/'))) {
      const r = verdictOf(file, { nilRead: 'unknown' });
      const expected = linearizable ? 'linearizable' : 'not-linearizable';
      if (r.verdict !== expected) wrong.push(`${file}: expected ${expected}, got ${r.verdict}`);
    }
    expect(wrong).toEqual([]);
  });

  it('reads etcd_095.log (empty: etcd never started) as an empty, linearizable history', () => {
    const parsed = parseHistory(readFileSync(`${DIR}jepsen/etcd_095.log`, 'utf8'));
    expect(parsed.ok && parsed.history).toEqual([]);
    expect(verdictOf('jepsen/etcd_095.log')).toMatchObject({ verdict: 'linearizable', ops: 0 });
  });

  it('explains a violation with a small witness that ends in the culprit', () => {
    const r = verdictOf('jepsen/etcd_040.log');
    expect(r.verdict).toBe('not-linearizable');
    if (r.verdict !== 'not-linearizable') return;
    const cx = r.counterexample;
    expect(cx.truncated).toBe(false);
    expect(cx.ops.length).toBeLessThanOrEqual(6);
    expect(cx.ops[cx.culprit]!.description).toBe('read() -> 4');
    expect(r.rendered).toContain('<-- cannot be linearized');
    // The same input renders the same text.
    const again = checkLinearizable(parse('jepsen/etcd_040.log'), casRegisterModel());
    expect(again.verdict === 'not-linearizable' && again.rendered).toBe(r.rendered);
  });

  it('names the key a kv history fails on', () => {
    const r = verdictOf('kv/c10-bad.txt');
    expect(r.verdict === 'not-linearizable' && r.counterexample.key).toBe('0');
  });

  it('refutes c50-bad on a key that is quick to refute, though harder keys come first in the file', () => {
    // Keys 0, 5, 7 and 9 of c50-bad are costly to search; 1, 2, 3, 4, 6 and 8 are quick to refute.
    const r = verdictOf('kv/c50-bad.txt');
    expect(r.verdict).toBe('not-linearizable');
    if (r.verdict !== 'not-linearizable') return;
    expect(['1', '2', '3', '4', '6', '8']).toContain(r.counterexample.key);
    expect(r.counterexample.ops[r.counterexample.culprit]!.f).toBe('get');
  });
});
