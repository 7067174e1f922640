// `dlab watch` in a real pseudo-terminal (tmux): save a wrong stub, read the failure, save the
// reference, read the pass, press keys, quit.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCourse } from '../../core/course.ts';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';
import { CONFIDENCE_FAMILIES } from './watch.ts';

const ID = '03-time-and-causality/01-vector-clocks';
const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const hasLess = spawnSync('less', ['--version']).status === 0;
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

function screen(session = 'w'): string {
  try {
    return tmux('capture-pane', '-p', '-t', session, '-S', '-60');
  } catch {
    return '';
  }
}

async function waitFor(pred: (s: string) => boolean, what: string, ms = 45_000, session = 'w'): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen(session);
    if (pred(s)) return s;
    if (Date.now() - t0 > ms) throw new Error(`waited ${ms} ms for ${what}; the screen shows:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const squash = (s: string) => s.replace(/\s+/g, ' ');
const watchCmd = (id: string) =>
  `cd ${course.root} && env -u PAGER -u LESS DLAB_DB=${course.db} NO_COLOR=1 ${process.execPath} grader/bin/dlab.mjs watch ${id}; echo "exit=$?"; sleep 60`;

describe.runIf(hasTmux)('dlab watch in a terminal', () => {
  it('shows failures and hints that fit the screen, names its keys, counts an attempt once per content, moves on with the next lesson, and exits 130 on Ctrl-C', async () => {
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    const c = loadCourse(course.root);
    if (!c.ok) throw new Error(c.error.message);
    const hint1 = c.value.byId.get(ID)!.hints[0];
    const save = (text: string) => {
      writeFileSync(`${stub}~`, text);
      renameSync(`${stub}~`, stub);
    };
    tmux('new-session', '-d', '-s', 'w', '-x', '80', '-y', '40', watchCmd(ID));
    const failed = await waitFor((s) => s.includes('✗ failed') && s.includes('TODO: implement'), 'the stub to fail');
    expect(failed).toContain('h hint');
    // Inside watch, a key is named, not a command to run elsewhere.
    expect(failed).toContain('press h for a hint');
    expect(failed).not.toContain('npx dlab hint');

    save(reference.replace('return { ...v, [me]: entry(v, me) + 1 };', 'return { ...v, [me]: entry(v, me) + 2 };'));
    const wrong = await waitFor((s) => s.includes('expected 1'), 'the wrong save to fail');
    expect(wrong).toContain('vcTick adds one to the ticking node');
    // The property is wrapped on word boundaries; only a command to copy is left for the terminal to wrap.
    expect(squash(wrong)).toContain("✗ vcTick(v, me) is v with me's counter one higher (a missing counter is 0), and v itself is left unchanged");
    for (const l of wrong.split('\n')) if ([...l].length >= 80) expect(l).toContain('npx dlab');

    tmux('send-keys', '-t', 'w', 'h');
    const hinted = await waitFor((s) => s.includes('Hint 1 of 3'), 'the first hint');
    // Wrapped on word boundaries: read line by line, the hint's words are all whole.
    expect(squash(hinted)).toContain(squash(hint1));
    expect(hinted).toContain('Press h again for hint 2.');

    save(reference);
    const passed = await waitFor((s) => s.includes('✓ passed') && s.includes('Solved in'), 'the reference to pass');
    const solved = /Solved in (\d+) attempts?/.exec(passed)![1];
    // What `n` opens is what `dlab next` opens: the first unfinished exercise.
    expect(passed).toMatch(/Next: press n\s+\(01-foundations\/00-network-lies:/);
    // Then the same code on fresh seed families, in the background, counted on screen.
    await waitFor((s) => squash(s).includes(`Confidence: passed on ${CONFIDENCE_FAMILIES}/${CONFIDENCE_FAMILIES} more seed families`), 'the background runs on fresh seed families');

    // A re-run grades the same code again: it is not another attempt.
    tmux('send-keys', '-t', 'w', 'r');
    const rerun = await waitFor((s) => squash(s).includes('not counted as another attempt') && s.includes('✓ passed'), 'the re-run');
    expect(rerun).toContain(`Solved in ${solved} attempt`);

    tmux('send-keys', '-t', 'w', 'n');
    if (hasLess) {
      // The next lesson, in the pager (it is longer than the screen), from its first line.
      const paged = await waitFor((s) => s.includes('Exercise 1 of') && s.includes('The story'), 'the next lesson in the pager');
      expect(paged).not.toContain('Going further'); // only its first screen: the rest is for the pager to show
      // Ctrl-C in the pager is the pager's: watch carries on once it is quit.
      tmux('send-keys', '-t', 'w', 'C-c');
      await new Promise((r) => setTimeout(r, 300));
      tmux('send-keys', '-t', 'w', 'q');
    } else {
      // No pager: the lesson is printed whole, and held until a key.
      await waitFor((s) => s.includes('press any key to start on 01-foundations/00-network-lies'), 'the next lesson, printed');
      tmux('send-keys', '-t', 'w', 'x');
    }
    const moved = await waitFor((s) => s.includes('dlab watch · 01-foundations/00-network-lies') && s.includes('✗ failed'), 'watch on the next exercise');
    expect(moved).toMatch(/Edit: exercises\/01-foundations\/00-network-lies\.ts:\d+/);
    expect(moved).not.toContain('exit=');

    tmux('send-keys', '-t', 'w', 'C-c');
    await waitFor((s) => s.includes('exit=130'), 'watch to stop with exit 130 on Ctrl-C');
  }, 240_000);

  it('quits on q with exit 0', async () => {
    tmux('new-session', '-d', '-s', 'q', '-x', '100', '-y', '30', watchCmd(ID));
    await waitFor((s) => s.includes('q quit'), 'watch to start', 45_000, 'q');
    tmux('send-keys', '-t', 'q', 'q');
    await waitFor((s) => s.includes('exit=0'), 'watch to quit with exit 0', 45_000, 'q');
  }, 120_000);
});
