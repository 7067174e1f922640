// The CLI as a learner and a tool see it: exit codes, messages and the JSON contracts, without a TTY.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../catalogue.ts';
import { main } from './main.ts';
import { testIo } from './test-io.ts';

let dir: string;
let env: Record<string, string>;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-cli-'));
  env = { DLAB_DB: join(dir, 'progress.db') };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function dlab(...argv: string[]) {
  const io = testIo(env);
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

const ID = '03-time-and-causality/01-vector-clocks';

describe('dlab', () => {
  it('explains an unknown exercise in one line, suggests the nearest ids, and exits 2', async () => {
    const r = await dlab('lesson', 'vectr-clocks');
    expect(r.code).toBe(2);
    expect(r.err).toBe(`dlab: no exercise 'vectr-clocks'\n  next: did you mean ${ID}? (\`npx dlab list\` shows them all)\n`);
    expect(r.out).toBe('');
  });

  it('rejects an unknown command or flag with exit 2', async () => {
    expect((await dlab('frobnicate')).code).toBe(2);
    const r = await dlab('list', '--jsn');
    expect(r.code).toBe(2);
    expect(r.err).toContain("Unknown option '--jsn'");
    expect(r.err).toContain('usage: dlab list [--json]');
  });

  it('list --json keeps its documented shape', async () => {
    const r = await dlab('list', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as unknown[];
    expect(rows).toContainEqual({
      id: ID,
      chapter: '03-time-and-causality',
      title: 'Vector clocks: detecting concurrency',
      status: 'pending',
      stub: `exercises/${ID}.ts`,
      lesson: `course/${ID}.md`,
    });
  });

  it('next, without a TTY, renders the first lesson, prints the stub path with its TODO line, and returns', async () => {
    const first = CATALOGUE[0]!;
    const id = `${first.slug}/${first.exercises[0]!.slug}`;
    const r = await dlab('next');
    expect(r.code).toBe(0);
    expect(r.out).toContain(first.exercises[0]!.title);
    expect(r.out).toMatch(new RegExp(`Edit: +exercises/${id}(\\.ts|/index\\.ts):\\d+`));
    const p = JSON.parse((await dlab('progress', '--json')).out) as { current: string };
    expect(p.current).toBe(id);
  });

  it('lesson renders markdown for the terminal', async () => {
    const r = await dlab('lesson', ID);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Happened-before');
    expect(r.out).not.toContain('**');
  });

  it('hint reveals one level at a time and remembers it', async () => {
    const first = await dlab('hint', ID);
    expect(first.out).toContain('Hint 1 of 3');
    expect(first.out).not.toContain('Hint 2 of 3');
    await dlab('hint', ID);
    const third = await dlab('hint', ID);
    expect(third.out).toContain('Hint 3 of 3');
    expect(third.out).toContain('That was the last hint');
    const fourth = await dlab('hint', ID);
    expect(fourth.out).toBe(third.out);
    const p = JSON.parse((await dlab('progress', '--json')).out) as { exercises: Array<{ id: string; hints: number }> };
    expect(p.exercises.find((e) => e.id === ID)?.hints).toBe(3);
  });

  it('reports a corrupt progress file and carries on', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(env['DLAB_DB']!, 'garbage'.repeat(1000));
    const r = await dlab('list', '--json');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^dlab: warning: progress\.db was corrupt; it was moved to progress\.db\.corrupt-/);
  });
});
