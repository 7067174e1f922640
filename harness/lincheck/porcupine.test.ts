// Every public porcupine history (Jepsen etcd logs, kv EDN files) gets the verdict porcupine's own suite asserts.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseHistory } from '../history/parse.ts';
import { checkLinearizable } from './checker.ts';
import type { AnyModel } from './model.ts';
import { casRegisterModel, kvModel } from './models.ts';

const DIR = fileURLToPath(new URL('./fixtures/porcupine/', import.meta.url));

const verdicts = readFileSync(`${DIR}VERDICTS.tsv`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => {
    const [file, linearizable] = l.split('\t');
    return { file: file!, linearizable: linearizable === 'true' };
  });

function verdictOf(file: string) {
  const parsed = parseHistory(readFileSync(`${DIR}${file}`, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}:${parsed.error.line}: ${parsed.error.message}`);
  const model: AnyModel = file.startsWith('kv/') ? kvModel() : casRegisterModel();
  return checkLinearizable(parsed.history, model);
}

describe('porcupine histories', () => {
  it('lists 102 etcd histories and four kv histories', () => {
    expect(verdicts.filter((v) => v.file.startsWith('jepsen/'))).toHaveLength(102);
    expect(verdicts.filter((v) => v.file.startsWith('kv/'))).toHaveLength(4);
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
    const again = verdictOf('jepsen/etcd_040.log');
    expect(again.verdict === 'not-linearizable' && again.rendered).toBe(r.rendered);
  });

  it('names the key a kv history fails on', () => {
    const r = verdictOf('kv/c10-bad.txt');
    expect(r.verdict === 'not-linearizable' && r.counterexample.key).toBe('0');
  });
});
