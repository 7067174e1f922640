// The pager: long lessons in a terminal go through `$PAGER` (else `less -R`); never without a terminal.
// The unit tests use a PAGER that writes what it was given to a file; the tmux tests run `dlab lesson`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../core/paths.ts';
import { page, screenLines } from './pager.ts';
import { testIo } from './test-io.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-pager-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const long = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

function terminal(env: Record<string, string | undefined>, rows = 24) {
  return { ...testIo({ PATH: process.env['PATH'], ...env }), interactive: true, rows };
}

describe('page', () => {
  it('pages long text in a terminal through $PAGER, with its arguments', async () => {
    const file = join(dir, 'paged.txt');
    const io = terminal({ PAGER: `tee ${file} >/dev/null` });
    expect(await page(io, long)).toBe('paged');
    expect(readFileSync(file, 'utf8')).toBe(long);
    expect(io.out()).toBe('');
  });

  it('never pages without a terminal, or text that fits the screen', async () => {
    const file = join(dir, 'never.txt');
    const piped = { ...terminal({ PAGER: `tee ${file} >/dev/null` }), interactive: false };
    expect(await page(piped, long)).toBe('printed');
    expect(piped.out()).toBe(long);
    const short = terminal({ PAGER: `tee ${file} >/dev/null` }, 200);
    expect(await page(short, long)).toBe('printed');
    expect(short.out()).toBe(long);
    expect(existsSync(file)).toBe(false);
  });

  it('prints the text when neither $PAGER nor less can run', async () => {
    const io = terminal({ PAGER: 'no-such-pager-anywhere --flag', PATH: dir });
    expect(await page(io, long)).toBe('printed');
    expect(io.out()).toBe(long);
    const empty = terminal({ PAGER: '' });
    expect(await page(empty, long)).toBe('printed');
    expect(empty.out()).toBe(long);
  });

  it('counts the screen lines a long line wraps onto', () => {
    expect(screenLines('a\nb\n', 80)).toBe(2);
    expect(screenLines(`${'x'.repeat(161)}\n`, 80)).toBe(3);
    expect(screenLines(`\u001b[1m${'x'.repeat(80)}\u001b[22m\n`, 80)).toBe(1);
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const hasLess = spawnSync('less', ['--version']).status === 0;
const socket = `dlab-pager-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const LESSON = '01-foundations/00-network-lies';

function screen(session: string): string {
  try {
    return tmux('capture-pane', '-p', '-t', session, '-S', '-400');
  } catch {
    return '';
  }
}

async function waitFor(session: string, pred: (s: string) => boolean, what: string, ms = 45_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen(session);
    if (pred(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`waited ${ms} ms for ${what}; the screen shows:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `dlab lesson` in an 80×24 terminal, with the environment given in front of it (`PAGER=...`). */
function lesson(session: string, env: string): void {
  const db = join(dir, `${session}.db`);
  const cmd = `cd ${ROOT} && env -u PAGER -u LESS ${env} DLAB_DB=${db} NO_COLOR=1 ${process.execPath} grader/bin/dlab.mjs lesson ${LESSON}; echo "exit=$?"; sleep 60`;
  tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', cmd);
}

describe.runIf(hasTmux)('dlab lesson in a terminal', () => {
  afterAll(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
  });

  it.runIf(hasLess)('pages a long lesson through less, then prints the file to edit below it', async () => {
    lesson('less', '');
    const first = await waitFor('less', (s) => s.includes('Exercise 1 of') && /\n:\s*$/.test(s.trimEnd() + '\n'), 'the pager');
    expect(first).not.toContain('Edit:');
    expect(first).not.toContain('Going further');
    tmux('send-keys', '-t', 'less', 'q');
    const after = await waitFor('less', (s) => s.includes('exit=0'), 'the lesson command to finish');
    expect(after).toMatch(/Edit: {2}exercises\/01-foundations\/00-network-lies\.ts:\d+/);
  }, 90_000);

  it('uses $PAGER when it is set', async () => {
    lesson('env', `PAGER='wc -l'`);
    const s = await waitFor('env', (x) => x.includes('exit=0'), 'the lesson command to finish');
    expect(s).toMatch(/^\s*\d{3}\s*$/m); // wc counted the lesson's lines: the lesson itself went to the pager
    expect(s).not.toContain('The story');
    expect(s).toContain('Edit:');
  }, 90_000);

  it.runIf(hasLess)('falls back to less when $PAGER cannot run', async () => {
    lesson('bad', `PAGER=no-such-pager-anywhere`);
    const s = await waitFor('bad', (x) => x.includes('Exercise 1 of') && /\n:\s*$/.test(x.trimEnd() + '\n'), 'less');
    expect(s).not.toContain('not found');
    tmux('send-keys', '-t', 'bad', 'q');
    await waitFor('bad', (x) => x.includes('exit=0'), 'the lesson command to finish');
  }, 90_000);

  it('prints the whole lesson when there is no pager to run', async () => {
    lesson('none', `PATH=${dir}`);
    const s = await waitFor('none', (x) => x.includes('exit=0'), 'the lesson command to finish');
    expect(s).toContain('Going further');
    expect(s).toContain('Edit:');
  }, 90_000);
});
