// `dlab watch` in a real pseudo-terminal (tmux): save a wrong stub, read the failure, save the
// reference, read the pass, press keys, quit.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';

const ID = '03-time-and-causality/01-vector-clocks';
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const socket = `dlab-test-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });

let course: TempCourse;
beforeAll(() => {
  course = tempCourse();
});
afterAll(() => {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  course.dispose();
});

function screen(): string {
  try {
    return tmux('capture-pane', '-p', '-t', 'w', '-S', '-60');
  } catch {
    return '';
  }
}

async function waitFor(pred: (s: string) => boolean, what: string, ms = 20_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (pred(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`waited ${ms} ms for ${what}; the screen shows:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.runIf(hasTmux)('dlab watch in a terminal', () => {
  it('shows the failure of a wrong save, the pass of the reference, a hint on h, and quits on q', async () => {
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    const save = (text: string) => {
      writeFileSync(`${stub}~`, text);
      renameSync(`${stub}~`, stub);
    };
    const cmd = `cd ${course.root} && DLAB_DB=${course.db} NO_COLOR=1 node grader/bin/dlab.mjs watch ${ID}; echo "exit=$?"; sleep 30`;
    tmux('new-session', '-d', '-s', 'w', '-x', '110', '-y', '45', cmd);
    await waitFor((s) => s.includes('✗ failed') && s.includes('TODO: implement'), 'the stub to fail');
    expect(screen()).toContain('h hint');

    save(reference.replace('return { ...v, [me]: entry(v, me) + 1 };', 'return { ...v, [me]: entry(v, me) + 2 };'));
    const wrong = await waitFor((s) => s.includes('expected 1'), 'the wrong save to fail');
    expect(wrong).toContain('vcTick adds one to the ticking node');

    save(reference);
    const passed = await waitFor((s) => s.includes('✓ passed'), 'the reference to pass');
    expect(passed).toMatch(/Solved in \d+ attempts?/);

    tmux('send-keys', '-t', 'w', 'h');
    await waitFor((s) => s.includes('Hint 1 of 3'), 'the first hint');

    tmux('send-keys', '-t', 'w', 'q');
    await waitFor((s) => s.includes('exit=0'), 'watch to quit with exit 0');
  }, 90_000);
});
