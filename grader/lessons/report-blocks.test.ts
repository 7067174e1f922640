// The failure reports in lessons are what the live grader prints: reading markers, cutting lines, and every
// block of course/ compared with what the grader prints now. A block is graded again only when something it
// depends on changed (its text is cached by its sources, report-blocks.ts); then it replays one case on a warm
// worker, a few hundred ms for a simulation.
import { describe, expect, it } from 'vitest';
import { blocksOf, CLOSE, generate, lessonFiles, parseBlocks, renderBlock, rewrite, selectLines, firstDifference } from './report-blocks.ts';

const MARK = '<!-- dlab:report 01-foundations/00-network-lies target=mutant:x seed=12 path=0:1 lines=1-2,4- -->';

describe('report blocks', () => {
  it('reads a marker, its attributes and the text up to the closing marker', () => {
    const md = ['# L', '', MARK, '```', 'old', '```', CLOSE, 'after'].join('\n');
    const r = parseBlocks(md, 'course/x.md');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const [b] = r.value;
    expect(b).toMatchObject({ file: 'course/x.md', line: 3, exercise: '01-foundations/00-network-lies', target: 'mutant:x', seed: 12, path: '0:1', lines: '1-2,4-', start: 2, end: 6 });
    expect(b!.text).toBe([MARK, '```', 'old', '```', CLOSE].join('\n'));
  });

  it('refuses a marker it cannot read, an unknown attribute, and a block left open', () => {
    const bad = (md: string) => {
      const r = parseBlocks(md, 'f.md');
      return r.ok ? 'ok' : r.error.message;
    };
    expect(bad('<!-- dlab:report x seed=1 -->\n' + CLOSE)).toMatch(/f\.md:1: the marker needs target=/);
    expect(bad('<!-- dlab:report x target=mutant:y -->\n' + CLOSE)).toMatch(/needs seed=S/);
    expect(bad('<!-- dlab:report x target=mutant:y seed=1 colour=red -->\n' + CLOSE)).toMatch(/unknown attribute colour/);
    expect(bad('<!-- dlab:report x target=mutant:y seed=1 -->\ntext')).toMatch(/not closed/);
    expect(bad(CLOSE)).toMatch(/without an opening marker/);
    expect(bad('<!-- dlab:reprot x -->')).toMatch(/cannot read the marker/);
    expect(bad('<!-- dlab:report x target=mutant:y seed=1 lines=5-2 -->\n' + CLOSE)).toMatch(/lines=5-2 is not a list of ranges/);
  });

  it('keeps the lines asked for and marks every cut with a …, indented like the least indented line cut', () => {
    const report = ['head', '  a', '  b', '    c', '   d', '    e', '  tail'];
    expect(selectLines(report, '1-2,4-5')).toEqual(['head', '  a', '  …', '    c', '   d', '  …']);
    expect(selectLines(report, '1,6-')).toEqual(['head', '  …', '    e', '  tail']);
    expect(selectLines(report, '2-3')).toEqual(['…', '  a', '  b', '…']);
    expect(selectLines(['x', '', 'y'], '1')).toEqual(['x', '…']);
    expect(selectLines(report, '1-x')).toBeUndefined();
    expect(selectLines(report, '3-4,2')).toBeUndefined();
  });

  it('renders the marker with the path found, and rewrites blocks in place', () => {
    const md = ['top', MARK.replace(' path=0:1', ''), 'stale', CLOSE, 'bottom'].join('\n');
    const r = parseBlocks(md, 'f.md');
    if (!r.ok) throw new Error(r.error.message);
    const b = r.value[0]!;
    const text = renderBlock(b, 'l1\nl2\nl3\nl4\n', '3:1');
    expect(text).toBe([MARK.replace('path=0:1', 'path=3:1'), '```', 'l1', 'l2', '…', 'l4', '```', CLOSE].join('\n'));
    let written = '';
    expect(rewrite(new Map([[b, text]]), () => md, (_f, s) => (written = s))).toEqual(['f.md']);
    expect(written).toBe(['top', text, 'bottom'].join('\n'));
    expect(firstDifference('a\nb', 'a\nc')).toBe('line 2 of the block reads "b", the grader now prints "c"');
  });

  it('every report block in course/ is what the live grader prints now', async () => {
    const blocks = blocksOf(lessonFiles());
    expect(blocks.length).toBeGreaterThan(0);
    const made = await generate(blocks);
    const stale: string[] = [];
    for (const b of blocks) {
      const r = made.get(b);
      if (r === undefined || !r.ok) stale.push(`${b.file}:${b.line}: cannot be made: ${r?.ok === false ? r.error.message : 'no result'}`);
      else if (r.value !== b.text) {
        stale.push(`${b.file}:${b.line}: the report (${b.exercise}, target ${b.target}, seed ${b.seed}) is stale: ${firstDifference(b.text, r.value)}; refresh it with \`npm run lessons -- ${b.file}\``);
      }
    }
    expect(stale, 'report blocks that no longer match the live grader').toEqual([]);
  });
});
