// `npm run lessons [-- FILE_OR_ID...] [--check] [--fresh]`: regenerates the README's syllabus and the failure reports embedded in lessons
// (report-blocks.ts) from the live grader. With --check it changes nothing and exits 1 when a block is stale;
// --fresh grades every block again instead of trusting the cache of texts made from the same sources.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadCourse } from '../core/course.ts';
import { ROOT } from '../core/paths.ts';
import { SYLLABUS_END, SYLLABUS_START, syllabusMarkdown, withSyllabus } from '../core/syllabus.ts';
import { blocksOf, firstDifference, generate, lessonFiles, rewrite, type ReportBlock } from './report-blocks.ts';

/** The README's syllabus block, made from the catalogue and the lessons' times: 1 if stale under --check. */
function syllabus(check: boolean): number {
  const course = loadCourse();
  if (!course.ok) throw new Error(course.error.message);
  const file = join(ROOT, 'README.md');
  const text = readFileSync(file, 'utf8');
  const next = withSyllabus(text, syllabusMarkdown(course.value));
  if (next === undefined) throw new Error(`README.md has no ${SYLLABUS_START} … ${SYLLABUS_END} block`);
  if (next === text) return 0;
  if (check) {
    process.stderr.write('✗ README.md: the syllabus is stale; refresh it: npm run lessons\n');
    return 1;
  }
  writeFileSync(file, next);
  process.stdout.write('refreshed the syllabus in README.md\n');
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  const fresh = argv.includes('--fresh');
  const staleSyllabus = syllabus(check);
  const wanted = argv.filter((a) => a !== '--check' && a !== '--fresh');
  const all = lessonFiles();
  const files =
    wanted.length === 0
      ? all
      : wanted.map((w) => {
          const rel = relative(ROOT, resolve(process.cwd(), w));
          const hit = all.find((f) => f === rel || f === `course/${w}.md` || f.replace(/\.md$/, '').endsWith(w.replace(/\.md$/, '')));
          if (hit === undefined) throw new Error(`no lesson ${w} (give a course/ file or an exercise id)`);
          return hit;
        });
  const blocks = blocksOf(files);
  if (blocks.length === 0) {
    process.stdout.write('no report blocks in those lessons\n');
    return staleSyllabus;
  }
  const t0 = performance.now();
  const made = await generate(blocks, undefined, { fresh });
  const updates = new Map<ReportBlock, string>();
  let problems = 0;
  let stale = 0;
  for (const b of blocks) {
    const r = made.get(b);
    if (r === undefined || !r.ok) {
      problems++;
      process.stderr.write(`✗ ${r?.ok === false ? r.error.message + (r.error.next !== undefined ? `; ${r.error.next}` : '') : `${b.file}:${b.line}: no result`}\n`);
      continue;
    }
    if (r.value === b.text) continue;
    stale++;
    if (check) process.stderr.write(`✗ ${b.file}:${b.line}: the report is stale: ${firstDifference(b.text, r.value)}\n`);
    updates.set(b, r.value);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (check) {
    process.stdout.write(`${blocks.length - stale - problems} of ${blocks.length} report blocks are fresh (${secs} s)${stale > 0 ? '; refresh them: npm run lessons' : ''}\n`);
    return stale + problems + staleSyllabus > 0 ? 1 : 0;
  }
  const changed = rewrite(updates, (f) => readFileSync(join(ROOT, f), 'utf8'), (f, s) => writeFileSync(join(ROOT, f), s));
  for (const f of changed) process.stdout.write(`refreshed ${f}\n`);
  process.stdout.write(`${blocks.length} report blocks, ${stale} refreshed (${secs} s)\n`);
  return problems > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
