// Tests of `dlab history check` through its function: exit codes, human output, --json, and bad input.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { historyCheck, type HistoryCheckOptions, type JsonVerdict } from './cli.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/porcupine/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dlab-lincheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function run(opts: Partial<HistoryCheckOptions> & { files: string[] }) {
  let out = '';
  let err = '';
  const code = await historyCheck(
    { model: 'cas-register', json: false, ...opts },
    { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
  );
  return { code, out, err };
}

const good = file(
  'good.edn',
  '[{:process 0 :type :invoke :f :write :value 1}\n {:process 0 :type :ok :f :write :value 1}\n {:process 1 :type :invoke :f :read :value nil}\n {:process 1 :type :ok :f :read :value 1}]\n',
);
const bad = file(
  'bad.log',
  [
    'INFO  jepsen.util - 0\t:invoke\t:write\t1',
    'INFO  jepsen.util - 0\t:ok\t:write\t1',
    'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 1\t:ok\t:read\t2',
    '',
  ].join('\n'),
);

describe('dlab history check', () => {
  it('exits 0 and prints one line per linearizable file', async () => {
    const r = await run({ files: [good, `${FIXTURES}jepsen/etcd_002.log`] });
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^.*good\.edn: linearizable \(2 ops, [\d.]+ ms\)$/);
  });

  it('exits 1 and shows the counterexample with file lines', async () => {
    const r = await run({ files: [good, bad] });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/bad\.log: not linearizable \(2 ops, [\d.]+ ms\)/);
    expect(r.out).toContain('  p1  read() -> 2  lines 3-4  <-- cannot be linearized');
  });

  it('prints --json: one object per file, counterexample operations with their lines', async () => {
    const r = await run({ files: [good, bad], json: true });
    expect(r.code).toBe(1);
    const json = JSON.parse(r.out) as JsonVerdict[];
    expect(json.map((v) => [v.file, v.verdict, v.ops])).toEqual([
      [good, 'linearizable', 2],
      [bad, 'not-linearizable', 2],
    ]);
    expect(typeof json[0]!.durationMs).toBe('number');
    expect(json[0]!.counterexample).toBeUndefined();
    const cx = json[1]!.counterexample!;
    expect(cx.model).toBe('cas-register');
    expect(cx.ops[cx.culprit]).toMatchObject({ f: 'read', result: 2, invokeLine: 3, completeLine: 4, description: 'read() -> 2' });
  });

  it('exits 3 when a file is undecided within the budget, and 1 if another is not linearizable', async () => {
    const lines: string[] = [];
    for (let p = 0; p < 18; p++) lines.push(`{:process ${p} :type :invoke :f :write :value ${p}}`);
    for (let p = 0; p < 18; p++) lines.push(`{:process ${p} :type :ok :f :write :value ${p}}`);
    lines.push('{:process 99 :type :invoke :f :read :value nil}', '{:process 99 :type :ok :f :read :value -1}');
    const hard = file('hard.edn', lines.join('\n'));
    const r = await run({ files: [hard], timeoutMs: 20 });
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/hard\.edn: unknown \(19 ops, [\d.]+ ms\): no answer within the 20 ms budget/);
    expect((await run({ files: [hard, bad], timeoutMs: 20 })).code).toBe(1);
    // A budget of steps gives the same verdict on any machine.
    const steps = await run({ files: [hard], maxSteps: 5_000, json: true });
    expect(steps.code).toBe(3);
    expect((JSON.parse(steps.out) as JsonVerdict[])[0]).toMatchObject({
      verdict: 'unknown',
      reason: 'no answer within the budget of 5,000 search steps',
    });
  });

  it('reads a completed read of nil as Knossos does, a read of unknown value, unless --strict-nil', async () => {
    const nil = `${fileURLToPath(new URL('./fixtures/nil-reads/', import.meta.url))}stale-after-nil.log`;
    const stale = file(
      'stale-nil.edn',
      '{:process 0 :type :invoke :f :write :value 1}\n{:process 0 :type :ok :f :write :value 1}\n' +
        '{:process 1 :type :invoke :f :read :value nil}\n{:process 1 :type :ok :f :read :value nil}\n',
    );
    expect((await run({ files: [stale] })).code).toBe(0);
    const strict = await run({ files: [stale], strictNil: true });
    expect(strict.code).toBe(1);
    expect(strict.out).toContain('read() -> nil  lines 3-4  <-- cannot be linearized');
    // A history illegal for other reasons stays illegal under either reading.
    expect((await run({ files: [nil] })).code).toBe(1);
    expect((await run({ files: [nil], strictNil: true })).code).toBe(1);
  });

  it('uses --init and the kv model', async () => {
    const kv = file(
      'kv.edn',
      '{:process 0 :type :invoke :f :append :key "k" :value "b"}\n{:process 0 :type :ok :f :append :key "k" :value "b"}\n{:process 0 :type :invoke :f :get :key "k" :value nil}\n{:process 0 :type :ok :f :get :key "k" :value "ab"}\n',
    );
    expect((await run({ files: [kv], model: 'kv' })).code).toBe(1);
    expect((await run({ files: [kv], model: 'kv', init: 'a' })).code).toBe(0);
    const reg = file('reg.edn', '{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok :f :read :value 5}\n');
    expect((await run({ files: [reg], model: 'register', init: '5' })).code).toBe(0);
    expect((await run({ files: [reg], model: 'register' })).code).toBe(1);
  });

  it('exits 2 on bad input with a one-line reason and the next step, checking nothing', async () => {
    const cases: [Partial<HistoryCheckOptions> & { files: string[] }, RegExp][] = [
      [{ files: [] }, /no history file given/],
      [{ files: [good], model: 'queue' }, /unknown model "queue"\n {2}use --model register, --model cas-register, --model kv/],
      [{ files: [join(dir, 'missing.log')] }, /cannot read .*missing\.log: no such file\n {2}check the path/],
      [{ files: [dir] }, /cannot read .*: a directory, not a file/],
      [{ files: [good, file('empty.edn', ' \n')] }, /no operations in .*empty\.edn\n {2}a history is Jepsen log lines/],
      [{ files: [good, file('broken.edn', '{:process 0 :type :invoke :f :read :value nil}\n{:process 0 :type :ok\n')] }, /broken\.edn:3: /],
      [{ files: [file('orphan.log', 'INFO  jepsen.util - 3\t:ok\t:read\t1\n')] }, /orphan\.log:1: process 3 completes read but invoked nothing/],
      [{ files: [file('cas.log', 'INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n'), good], model: 'register' }, /cas\.log:1: cas: a register has no cas/],
    ];
    for (const [opts, message] of cases) {
      const r = await run(opts);
      expect(r.code, String(message)).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(message);
      expect(r.err).toMatch(/^dlab history check: [^\n]+\n {2}[^\n]+\n$/);
      expect(r.err).not.toMatch(/at .*\.ts:\d+/);
    }
  });
});
