// Commands that move a learner through the course: next, list, lesson, hint, progress.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Exercise } from '../../core/course.ts';
import { duration, lessonMinutes } from '../../core/syllabus.ts';
import type { Status } from '../../store/progress-store.ts';
import { firstUnfinished, type Context } from '../context.ts';
import { line, paint } from '../io.ts';
import { page } from '../pager.ts';
import { renderLessonPage, stubLocation } from '../render.ts';

/** One row of `dlab list --json` (a documented contract: other tools rely on it). */
export interface ListRow {
  readonly id: string;
  readonly chapter: string;
  readonly title: string;
  readonly status: Status;
  readonly stub: string;
  readonly lesson: string;
  /** The lesson's estimated time in minutes (its "*About N minutes*" line); null if it has none. */
  readonly minutes: number | null;
  /** The seed topics it covers (keys of the course plan). */
  readonly topics: readonly string[];
}

export function listRows(ctx: Context): ListRow[] {
  const course = ctx.course();
  const progress = ctx.store().progress();
  return course.exercises.map((e) => ({
    id: e.id,
    chapter: e.chapter.slug,
    title: e.title,
    status: progress.get(e.id)?.status ?? 'pending',
    stub: relative(ctx.root, e.paths.stub),
    lesson: relative(ctx.root, e.paths.lesson),
    minutes: lessonMinutes(e) ?? null,
    topics: e.topics,
  }));
}

const MARK: Record<Status, string> = { passed: '✓', attempted: '•', pending: ' ' };

export async function list(ctx: Context, opts: { json: boolean }): Promise<number> {
  const rows = listRows(ctx);
  const { io } = ctx;
  if (opts.json) {
    line(io.stdout, JSON.stringify(rows, null, 2));
    return 0;
  }
  const p = paint(io);
  const current = ctx.store().current();
  let chapter = '';
  for (const r of rows) {
    if (r.chapter !== chapter) {
      chapter = r.chapter;
      const ch = ctx.course().chapters.find((c) => c.slug === chapter)!;
      const minutes = rows.filter((x) => x.chapter === chapter).reduce((a, x) => a + (x.minutes ?? 0), 0);
      line(io.stdout, `${chapter === rows[0]!.chapter ? '' : '\n'}${p.bold(`${ch.slug}`)}  ${p.dim(`${ch.title} · about ${duration(minutes)}`)}`);
    }
    const mark = r.status === 'passed' ? p.green(MARK.passed) : r.status === 'attempted' ? p.yellow(MARK.attempted) : MARK.pending;
    const here = r.id === current ? p.cyan('  ← current') : '';
    const time = r.minutes === null ? '' : p.dim(`  ${r.minutes} min`);
    line(io.stdout, `  ${mark} ${r.id.slice(r.chapter.length + 1).padEnd(34)} ${r.title}${time}${here}`);
  }
  const done = rows.filter((r) => r.status === 'passed').length;
  const left = rows.filter((r) => r.status !== 'passed').reduce((a, r) => a + (r.minutes ?? 0), 0);
  line(io.stdout, `\n${done}/${rows.length} passed, about ${duration(left)} to go  ${p.dim('(✓ passed, • attempted)')}`);
  return 0;
}

export async function next(ctx: Context): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const course = ctx.course();
  const store = ctx.store();
  const ex = firstUnfinished(course, store);
  if (ex === undefined) {
    line(io.stdout, p.green(`Every exercise has passed (${course.exercises.length}/${course.exercises.length}). Well done.`));
    line(io.stdout, 'Revisit any of them with `npx dlab lesson <id>`, or compare with the reference with `npx dlab diff <id>`.');
    return 0;
  }
  store.setCurrent(ex.id);
  await showExercise(ctx, ex);
  if (io.interactive) {
    const { confirm, isCancel } = await import('@clack/prompts');
    const yes = await confirm({ message: 'Start watching? (re-grades on every save)', initialValue: true, input: io.stdin, output: io.stdout as unknown as import('node:stream').Writable });
    if (!isCancel(yes) && yes === true) {
      const { watch } = await import('./watch.ts');
      return watch(ctx, ex.id, {});
    }
  }
  return 0;
}

async function showExercise(ctx: Context, ex: Exercise): Promise<void> {
  const { io } = ctx;
  const p = paint(io);
  // Paged in a terminal when longer than the screen; the lines below stay in view after the pager.
  await page(io, await renderLessonPage(ex, io, ctx.course().exercises.length));
  line(io.stdout);
  line(io.stdout, `${p.bold('Edit:')}  ${stubLocation(ex, io.cwd)}`);
  line(io.stdout, `${p.bold('Then:')}  npx dlab watch   ${p.dim('(re-grades on every save; or `npx dlab check` once)')}`);
  line(io.stdout, `${p.bold('Stuck:')} npx dlab hint    ${p.dim('(three hints, one at a time)')}`);
}

/** `dlab lesson --json`: the lesson unrendered, and where it and the file to edit are. */
export interface LessonJson {
  readonly id: string;
  readonly title: string;
  readonly chapter: string;
  /** Paths relative to the repo root. */
  readonly lesson: string;
  readonly stub: string;
  /** `path:line` of the first `TODO:`, relative to the current directory. */
  readonly edit: string;
  readonly markdown: string;
}

export async function lesson(ctx: Context, id: string | undefined, opts: { json?: boolean } = {}): Promise<number> {
  const ex = ctx.exercise(id);
  if (opts.json === true) {
    const out: LessonJson = {
      id: ex.id,
      title: ex.title,
      chapter: ex.chapter.slug,
      lesson: relative(ctx.root, ex.paths.lesson),
      stub: relative(ctx.root, ex.paths.stub),
      edit: stubLocation(ex, ctx.io.cwd),
      markdown: readFileSync(ex.paths.lesson, 'utf8'),
    };
    line(ctx.io.stdout, JSON.stringify(out, null, 2));
    return 0;
  }
  await showExercise(ctx, ex);
  return 0;
}

const HINT_KINDS = ['a nudge', 'the idea', 'the near-answer'] as const;

/** `keys`: shown inside `dlab watch`, which names its keys rather than commands. `json`: `dlab hint --json`. */
export async function hint(ctx: Context, id: string | undefined, opts: { keys?: boolean; json?: boolean } = {}): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const ex = ctx.exercise(id);
  const store = ctx.store();
  const before = store.hintsRevealed(ex.id);
  const level = Math.min(3, before + 1);
  if (before < 3) store.revealHint(ex.id, level);
  if (opts.json === true) {
    const hints = ex.hints.slice(0, level).map((text, i) => ({ level: i + 1, kind: HINT_KINDS[i], text }));
    line(io.stdout, JSON.stringify({ id: ex.id, revealed: level, hints }, null, 2));
    return 0;
  }
  const names = HINT_KINDS;
  line(io.stdout, p.bold(`Hints for ${ex.id}`));
  for (let i = 0; i < level; i++) {
    const fresh = i === level - 1 && before < 3;
    line(io.stdout);
    line(io.stdout, `${fresh ? p.yellow(`Hint ${i + 1} of 3`) : p.dim(`Hint ${i + 1} of 3`)} ${p.dim(`(${names[i]})`)}`);
    line(io.stdout, ex.hints[i]!);
  }
  line(io.stdout);
  if (level < 3) line(io.stdout, p.dim(opts.keys === true ? `Press h again for hint ${level + 1}.` : `Run \`npx dlab hint\` again for hint ${level + 1}.`));
  else line(io.stdout, p.dim(opts.keys === true ? 'That was the last hint. Save your file to grade it again.' : 'That was the last hint. Grade your code with `npx dlab check`.'));
  return 0;
}

/** `dlab progress --json`: the course-wide summary. */
export interface ProgressReport {
  readonly current: string | null;
  readonly passed: number;
  readonly total: number;
  readonly exercises: ReadonlyArray<{ id: string; status: Status; attempts: number; hints: number; solutionViewed: boolean; passedAt: string | null }>;
}

export async function progress(ctx: Context, opts: { json: boolean }): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const course = ctx.course();
  const store = ctx.store();
  const prog = store.progress();
  const report: ProgressReport = {
    current: store.current() ?? null,
    passed: course.exercises.filter((e) => prog.get(e.id)?.status === 'passed').length,
    total: course.exercises.length,
    exercises: course.exercises.map((e) => {
      const x = prog.get(e.id);
      return {
        id: e.id,
        status: x?.status ?? 'pending',
        attempts: x?.attempts ?? 0,
        hints: store.hintsRevealed(e.id),
        solutionViewed: store.solutionViews(e.id) > 0,
        passedAt: x?.passedAt === undefined ? null : new Date(x.passedAt).toISOString(),
      };
    }),
  };
  if (opts.json) {
    line(io.stdout, JSON.stringify(report, null, 2));
    return 0;
  }
  const width = 30;
  const filled = report.total === 0 ? 0 : Math.round((report.passed / report.total) * width);
  line(io.stdout, `${p.bold('Progress')}  ${p.green('█'.repeat(filled))}${p.dim('░'.repeat(width - filled))}  ${report.passed}/${report.total} passed`);
  line(io.stdout, `Current: ${report.current ?? p.dim('(none yet: run `npx dlab next`)')}`);
  for (const ch of course.chapters) {
    const rows = report.exercises.filter((e) => e.id.startsWith(ch.slug + '/'));
    const done = rows.filter((r) => r.status === 'passed').length;
    line(io.stdout, `\n${p.bold(ch.slug)} ${p.dim(ch.title)}  ${done}/${rows.length}`);
    for (const r of rows) {
      const mark = r.status === 'passed' ? p.green('✓') : r.status === 'attempted' ? p.yellow('•') : ' ';
      const extra = [r.attempts > 0 ? `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` : '', r.hints > 0 ? `${r.hints} hint${r.hints === 1 ? '' : 's'}` : '', r.solutionViewed ? 'solution seen' : '']
        .filter((s) => s !== '')
        .join(', ');
      line(io.stdout, `  ${mark} ${r.id.slice(ch.slug.length + 1).padEnd(34)} ${p.dim(extra)}`);
    }
  }
  return 0;
}
