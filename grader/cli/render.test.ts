// Lessons and reports fit the terminal: every lesson at several widths, tables reflowed or listed,
// lists and paragraphs wrapped with a hanging indent, code blocks left as they are.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../core/paths.ts';
import type { Failure, Verdict } from '../runner/grade.ts';
import { renderMarkdown, renderVerdict, visibleWidth, wrapText } from './render.ts';

const LIES = join(ROOT, 'course', '01-foundations', '00-network-lies.md');

function lessons(): string[] {
  const out: string[] = [];
  for (const ch of readdirSync(join(ROOT, 'course'))) {
    if (!/^\d\d-/.test(ch)) continue;
    for (const f of readdirSync(join(ROOT, 'course', ch))) if (f.endsWith('.md')) out.push(join(ROOT, 'course', ch, f));
  }
  return out;
}

/** The lines inside fenced code blocks, trimmed: the only lines allowed to be wider than the terminal. */
function codeLines(md: string): Set<string> {
  const out = new Set<string>();
  let inside = false;
  for (const l of md.split('\n')) {
    if (/^\s*```/.test(l)) inside = !inside;
    else if (inside) out.add(l.trim());
  }
  return out;
}

/** The fault-code table of a lesson, as its cells read (inline code marks dropped). */
function faultTable(md: string): { head: string[]; rows: string[][] } {
  const lines = md.split('\n');
  const at = lines.findIndex((l) => /^\|\s*Code\s*\|/.test(l));
  expect(at).toBeGreaterThanOrEqual(0);
  const cells = (l: string) => l.replace(/^\||\|$/g, '').split('|').map((c) => squash(c.replace(/`/g, '')));
  const body: string[] = [];
  for (let i = at + 2; i < lines.length && lines[i]!.startsWith('|'); i++) body.push(lines[i]!);
  return { head: cells(lines[at]!), rows: body.map(cells) };
}

const render = (md: string, columns: number) => renderMarkdown(md, { color: false, columns });
const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

describe('lessons in the terminal', () => {
  for (const columns of [40, 60, 80, 120]) {
    it(`every lesson fits ${columns} columns, except code blocks`, async () => {
      for (const file of lessons()) {
        const md = readFileSync(file, 'utf8');
        const code = codeLines(md);
        const out = await render(md, columns);
        const wide = out.split('\n').filter((l) => visibleWidth(l) > columns && !code.has(l.trim()));
        expect(wide, `${file} at ${columns} columns`).toEqual([]);
      }
    });
  }

  it('reflows the fault-code table to the width at 80 and 120 columns, every cell whole', async () => {
    const md = readFileSync(LIES, 'utf8');
    const { head, rows } = faultTable(md);
    for (const columns of [80, 120]) {
      const out = await render(md, columns);
      const all = out.split('\n');
      const at = all.findIndex((l) => l.includes('Code') && l.includes('Fault'));
      const lines = all.slice(at - 1, all.indexOf('', at));
      // A box: every line starts and ends with a border, and all are the same width, within the terminal.
      for (const l of lines) expect(l, `at ${columns}`).toMatch(/^[┌│├└].*[┐│┤┘]$/);
      expect(new Set(lines.map(visibleWidth)).size).toBe(1);
      expect(visibleWidth(lines[0]!)).toBeLessThanOrEqual(columns);
      // Words are not broken: each column's text, read down, holds every cell of it whole.
      const column = (k: number) => squash(lines.map((l) => l.split('│')[k + 1] ?? '').join(' '));
      head.forEach((h, k) => expect(column(k)).toContain(h));
      for (const r of rows) r.forEach((cell, k) => expect(column(k), `at ${columns}`).toContain(cell));
    }
  });

  it('turns a table too wide for the terminal into a list', async () => {
    const md = readFileSync(LIES, 'utf8');
    const { head, rows } = faultTable(md);
    const all = await render(md, 40);
    const out = squash(all.slice(all.indexOf('Every exercise says'), all.indexOf('Even with no fault')));
    expect(out).not.toMatch(/[┌┬┐├┼┤└┴┘│]/);
    // One item a row: its first cell, then each other cell after its column's name.
    for (const r of rows) expect(out).toContain(`• ${r[0]} ${r.slice(1).map((c, k) => `${head[k + 1]}: ${c}`).join(' ')}`);
  });

  it('draws no empty header row', async () => {
    const out = await render(readFileSync(LIES, 'utf8'), 120);
    expect(out).not.toMatch(/^│(\s*│)+\s*$/m);
    expect(await render('| | |\n|---|---|\n| a | b |\n', 80)).not.toMatch(/^│(\s*│)+\s*$/m);
  });

  it('wraps list items with a hanging indent, and leaves code blocks whole', async () => {
    const md = readFileSync(LIES, 'utf8');
    const out = await render(md, 60);
    const lines = out.split('\n');
    const i = lines.findIndex((l) => l.includes('• Loss → acknowledge and retransmit.'));
    expect(i).toBeGreaterThanOrEqual(0);
    const bullet = lines[i]!.indexOf('•');
    const textAt = lines[i]!.indexOf('Loss');
    // The item's next lines start under its text, not under the bullet, and are no wider than 60.
    expect(lines[i + 1]!.slice(0, textAt)).toBe(' '.repeat(textAt));
    expect(lines[i + 1]![textAt]).not.toBe(' ');
    expect(bullet).toBeLessThan(textAt);
    expect(lines.some((l) => l.trim() === "ctx.setTimer(100, 'ping');             // onTimer('ping') in 100 ms of this node's time")).toBe(true);
  });

  it('keeps inline formatting in tight list items and never breaks a word', async () => {
    const md = '- **bold** and `code: x` and &lt;angle&gt;, a long item that goes on and on past the end of a narrow terminal line\n- two\n';
    const out = await render(md, 40);
    expect(out).toContain('bold');
    expect(out).not.toContain('**');
    expect(out).toContain('code: x');
    expect(out).toContain('<angle>');
    expect(squash(out)).toContain('a long item that goes on and on past the end of a narrow terminal line');
  });
});

describe('wrapText', () => {
  it('wraps on word boundaries, each line keeping its own indent', () => {
    const s = '    Property violated: vcCompare(a, b) is before when a <= b entry-wise and a != b\nshort';
    const out = wrapText(s, 30);
    for (const l of out.split('\n')) expect(visibleWidth(l)).toBeLessThanOrEqual(30);
    expect(out.split('\n').slice(0, -1).every((l) => l.startsWith('    '))).toBe(true);
    expect(squash(out)).toBe(squash(s));
    expect(out.split('\n').at(-1)).toBe('short');
  });

  it('does not count colour codes, and splits only a word longer than the line', () => {
    const red = (s: string) => `\u001b[31m${s}\u001b[39m`;
    const out = wrapText(`${red('aaaa')} bbbb cccc ${'x'.repeat(25)}`, 10);
    expect(out.split('\n').map(visibleWidth)).toEqual([9, 4, 10, 10, 5]);
    expect(out.split('\n')[0]).toBe(`${red('aaaa')} bbbb`);
  });

  it('leaves preformatted lines (diagrams, tables, commands) alone', () => {
    const diagram = '    15.000  ○     │       a→b #1 send "p1" and a long tail that goes past the width';
    expect(wrapText(diagram, 40, { keepPreformatted: true })).toBe(diagram);
    const replay = '    Replay: npx dlab replay 03-time-and-causality/01-vector-clocks --seed 303 --path 0';
    expect(wrapText(replay, 40, { keepPreformatted: true })).toBe(replay);
  });
});

describe('renderVerdict: failure reports that tell the story (dlab issue 13)', () => {
  const ID = '09-demo/01-http';
  const verdict = (failures: Failure[]): Verdict => ({
    id: ID,
    target: 'exercises',
    kind: 'failed',
    passed: false,
    durationMs: 1200,
    tests: 6,
    notRun: 0,
    failures,
    logs: [],
  });
  const sim = (test: string, property: string, why: string): Failure => ({
    test: `${ID} > ${test}`,
    message: `✗ ${property}\n  ${why}\n\n  seed 7 · path 0\n\n  replay: npx dlab replay ${ID} --seed 7 --path 0`,
    seed: 7,
    replay: `npx dlab replay ${ID} --seed 7 --path 0`,
  });
  const plain = (test: string, message: string): Failure => ({ test: `${ID} > ${test}`, message });
  const render = (fs: Failure[], showAll = false) => renderVerdict(verdict(fs), { color: false }, { showAll });

  it('heads a failure with the property that broke, the test that checked it on the next line', () => {
    const out = render([sim('keeps order, bounds latency and never duplicates', 'never delivers a payload twice', 'b got "x" twice')]);
    expect(out.split('\n').slice(1, 6)).toEqual([
      '',
      '  ✗ never delivers a payload twice',
      `    test: ${ID} > keeps order, bounds latency and never duplicates`,
      '    b got "x" twice',
      '',
    ]);
    // checkProperty's first line works the same; a property that is the test's name is said once.
    const cp = render([plain('vcCompare is antisymmetric', 'Property violated: vcCompare is antisymmetric\nCounterexample: [1]\nWhy: no')]);
    expect(cp).toContain('\n  ✗ vcCompare is antisymmetric\n    Counterexample: [1]\n    Why: no');
    expect(cp).not.toContain('test:');
    // A message that names no property keeps the test name as the headline, and the whole message.
    const pl = render([plain('answers 200', 'expected 400 to be 200')]);
    expect(pl).toContain(`\n  ✗ ${ID} > answers 200\n    expected 400 to be 200`);
  });

  it('gives every "also failing" test its one-line reason', () => {
    const out = render([plain('a', 'expected 400 to be 200'), plain('b', 'timed out waiting for the leader'), sim('c and d', 'c holds', 'no')]);
    const tail = out.slice(out.indexOf('also failing'));
    expect(tail).toBe(
      ['also failing (2):', `  ✗ ${ID} > b`, '      timed out waiting for the leader', `  ✗ ${ID} > c and d`, '      c holds'].join('\n'),
    );
  });

  it('counts a test that failed twice (its body, then its clean-up) as one failed test', () => {
    const out = render([
      plain('close() settles', 'Property violated: every promise settles\nWhy: close() did not resolve within 2 s'),
      plain('close() settles', 'Property violated: every promise settles\nWhy: close() of a server started here did not resolve within 2 s'),
    ]);
    expect(out.split('\n')[0]).toContain('1 of 6 tests failed');
    expect(out).toContain('(and the same test reported it once more)');
    expect(out).not.toContain('more test failed');
    // Only a teardown failed: no test is counted as failed.
    expect(render([{ test: '(setup or teardown around the tests)', message: 'a server was left listening' }]).split('\n')[0]).toContain('6 tests passed, but the run failed around them');
  });

  it('says a cause that many tests share once, naming the others', () => {
    const fs = [
      plain('GET /a answers 200', 'expected status 200, got 400 (request 1)\n  body: bad'),
      plain('PUT /b answers 201', 'oops: the lock is held'),
      plain('GET /c answers 200', 'expected status 200, got 400 (request 17)\n  body: bad'),
      plain('DELETE /d answers 204', 'expected status 204, got 400 (request 3)'),
    ];
    const out = render(fs);
    expect(out).toContain('\n    (and 2 more tests failed the same way: GET /c answers 200; DELETE /d answers 204)');
    expect(out).toContain(`also failing (1):\n  ✗ ${ID} > PUT /b answers 201\n      oops: the lock is held`);
    expect(out).not.toContain('GET /c answers 200\n');
    // With every failure shown (a replay's list), each cause is shown in full once.
    const all = render(fs, true);
    expect(all.match(/body: bad/g)).toHaveLength(1);
    expect(all).toContain('oops: the lock is held');
    expect(all).not.toContain('also failing');
  });
});
