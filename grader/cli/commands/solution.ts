// Looking at the reference: `dlab diff` (your file beside it) and `dlab compare` (your behaviour beside it).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch, diffLines } from 'diff';
import type { Exercise } from '../../core/course.ts';
import { DlabExit } from '../../core/errors.ts';
import { scratchDir } from '../../core/paths.ts';
import { planJob, verdictOf, type Verdict } from '../../runner/grade.ts';
import { runJobs } from '../../runner/run-jobs.ts';
import { readMetrics, type Metric } from '../../../harness/metrics.ts';
import type { Context } from '../context.ts';
import { ask } from '../ask.ts';
import { line, paint, type Io, type Paint } from '../io.ts';

/** The pairs of files to show: (learner's, reference's), by path relative to the exercise. */
function filePairs(ex: Exercise): Array<{ name: string; mine: string; ref: string }> {
  return ex.paths.fileNames.map((name, i) => ({ name, mine: ex.paths.stubFiles[i]!, ref: ex.paths.solutionFiles[i]! }));
}

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

export async function diff(ctx: Context, id: string | undefined, opts: { yes?: boolean; unified?: boolean }): Promise<number> {
  const { io } = ctx;
  const ex = ctx.exercise(id);
  const passed = ctx.store().status(ex.id) === 'passed';
  const q = {
    prompt: `You have not passed ${ex.id} yet. See the reference solution anyway?`,
    refusal: `${ex.id} has not passed yet, so dlab asks before showing the reference`,
    yesDoes: 'to see it anyway',
  };
  if (!(await ask(ctx.io, q, passed || opts.yes === true))) return 1;
  ctx.store().recordSolutionView(ex.id, 'diff');
  const p = paint(io);
  const sideBySide = opts.unified !== true && io.columns >= 110;
  for (const f of filePairs(ex)) {
    const mine = read(f.mine);
    const ref = read(f.ref);
    if (sideBySide) io.stdout.write(renderSideBySide(f.name, mine, ref, io, p));
    else io.stdout.write(renderUnified(f.name, mine, ref, p));
  }
  return 0;
}

function renderUnified(name: string, mine: string, ref: string, p: Paint): string {
  const patch = createTwoFilesPatch(`yours: ${name}`, `reference: ${name}`, mine, ref, '', '', { context: 3 });
  return patch
    .split('\n')
    .slice(1) // the "Index" / "=====" banner adds nothing here
    .filter((l) => !/^={10,}$/.test(l))
    .map((l) => (l.startsWith('+') && !l.startsWith('+++') ? p.green(l) : l.startsWith('-') && !l.startsWith('---') ? p.red(l) : l.startsWith('@@') ? p.cyan(l) : l))
    .join('\n');
}

function fit(s: string, width: number): string {
  const t = s.replace(/\t/g, '  ');
  return t.length > width ? t.slice(0, width - 1) + '…' : t.padEnd(width);
}

/** Two columns, yours on the left; long unchanged stretches are folded. */
function renderSideBySide(name: string, mine: string, ref: string, io: Pick<Io, 'columns'>, p: Paint): string {
  const w = Math.floor((io.columns - 3) / 2);
  const rows: string[] = [p.bold(`${fit(`yours: ${name}`, w)} │ ${fit(`reference: ${name}`, w)}`), `${'─'.repeat(w)}─┼─${'─'.repeat(w)}`];
  const changes = diffLines(mine, ref);
  const lines = (v: string) => v.replace(/\n$/, '').split('\n');
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    if (!c.added && !c.removed) {
      const ls = lines(c.value);
      const fold = ls.length > 8;
      const shownLines = fold ? [...ls.slice(0, 3), null, ...ls.slice(-3)] : ls;
      for (const l of shownLines) {
        if (l === null) rows.push(p.dim(`${fit(`  ⋯ ${ls.length - 6} unchanged lines`, w)} │ ${fit('', w)}`));
        else rows.push(p.dim(`${fit(l, w)} │ ${fit(l, w)}`));
      }
      continue;
    }
    // A removal followed by an addition is one edit: pair its lines side by side.
    const removed = c.removed ? lines(c.value) : [];
    const nextC = changes[i + 1];
    const added = c.added ? lines(c.value) : nextC?.added === true ? lines(nextC.value) : [];
    if (c.removed && nextC?.added === true) i++;
    for (let k = 0; k < Math.max(removed.length, added.length); k++) {
      const left = removed[k] === undefined ? fit('', w) : p.red(fit(removed[k]!, w));
      const right = added[k] === undefined ? fit('', w) : p.green(fit(added[k]!, w));
      rows.push(`${left} │ ${right}`);
    }
  }
  return rows.join('\n') + '\n\n';
}

/**
 * A line of a failure that shows the learner's code threw: the simulator's "x threw at t=…", or an untouched
 * stub's `TODO: …` error as a report quotes it ("Why: TODO: …", "safety violated at t=0 ms: TODO: …").
 */
const THREW = /\bthrew at t=\d|(?:^|: )TODO\b/m;

/**
 * When your code threw rather than ran (it did not load, crashed, timed out, or threw inside the runs), its
 * figures mean nothing: the failure that shows it, and the line that says what was thrown.
 */
export function threwIn(v: Verdict): { test: string; what: string } | undefined {
  const firstLine = (m: string) => m.split('\n')[0] ?? m;
  if (v.kind === 'did-not-load' || v.kind === 'crashed' || v.kind === 'timed-out') {
    const f = v.failures[0];
    return f === undefined ? undefined : { test: f.test, what: firstLine(f.message) };
  }
  for (const f of v.failures) {
    const m = THREW.exec(f.message);
    if (m !== null) {
      const start = f.message.lastIndexOf('\n', m.index) + 1;
      const end = f.message.indexOf('\n', m.index);
      return { test: f.test, what: f.message.slice(start, end < 0 ? undefined : end).trim().replace(/^(Why|safety violated at t=\d+ ms): /, '') };
    }
  }
  return undefined;
}

/** One row of `dlab compare --json`: yours is null when your code recorded no figure (or threw). */
export interface CompareRow {
  readonly name: string;
  readonly unit: string;
  readonly better: 'lower' | 'higher';
  readonly yours: number | null;
  readonly reference: number;
  readonly ratio: number | null;
}

export async function compare(ctx: Context, id: string | undefined, opts: { json?: boolean } = {}): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const ex = ctx.exercise(id);
  const dir = join(scratchDir(ctx.root), 'compare', String(process.pid));
  mkdirSync(dir, { recursive: true });
  const outs = { mine: join(dir, 'mine.ndjson'), ref: join(dir, 'ref.ndjson') };
  try {
    const mine = planJob(ex, { kind: 'exercises' }, { metricsOut: outs.mine, all: true }, ctx.root, '-cmp');
    const ref = planJob(ex, { kind: 'solutions' }, { metricsOut: outs.ref, all: true }, ctx.root, '-cmp');
    if (!mine.ok) throw new DlabExit(mine.error);
    if (!ref.ok) throw new DlabExit(ref.error);
    const outcomes = await runJobs([mine.value.job, ref.value.job], { root: ctx.root, maxWorkers: 2 });
    const verdict = verdictOf(mine.value, outcomes.get(mine.value.job.key) ?? { kind: 'crashed', message: 'no result' }, 0, ctx.root);
    const threw = threwIn(verdict);
    // Figures from runs where your code threw are zeros, not behaviour: none are shown.
    const a = threw === undefined ? readMetrics(read(outs.mine)) : [];
    const b = readMetrics(read(outs.ref));
    const code = verdict.passed ? 0 : 1;
    if (opts.json === true) {
      const first = verdict.failures[0];
      line(
        io.stdout,
        JSON.stringify(
          {
            id: ex.id,
            passed: verdict.passed,
            threw: threw === undefined ? null : threw.what,
            failure: first === undefined ? null : { test: first.test, message: first.message },
            metrics: rows(a, b),
          },
          null,
          2,
        ),
      );
      return code;
    }
    line(io.stdout, p.bold(`Behaviour of ${ex.id}: yours beside the reference, on the same seeds`));
    if (threw !== undefined) {
      line(io.stdout, p.yellow('Your code threw, so it has no figures to compare yet:'));
      line(io.stdout, `  ${p.red('✗')} ${threw.test}`);
      line(io.stdout, `    ${threw.what}`);
    } else if (!verdict.passed) {
      const first = verdict.failures[0];
      line(io.stdout, p.yellow(`Note: your code does not pass yet${first === undefined ? '' : ` (it fails: ${first.test})`}, so its figures may be partial or zero.`));
    }
    if (b.length === 0) {
      line(io.stdout, p.dim('This exercise defines no behaviour metrics: it is graded on correctness alone.'));
      return code;
    }
    line(io.stdout, formatTable(a, b, p));
    if (threw !== undefined) line(io.stdout, p.dim(`The reference's figures are the ones to aim for once \`npx dlab check ${ex.id}\` passes.`));
    return code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rows(mine: readonly Metric[], ref: readonly Metric[]): CompareRow[] {
  return ref.map((r) => {
    const m = mine.find((x) => x.name === r.name);
    return { name: r.name, unit: r.unit, better: r.better, yours: m?.value ?? null, reference: r.value, ratio: m === undefined || r.value === 0 ? null : m.value / r.value };
  });
}

function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 || Number.isInteger(x) ? String(Math.round(x)) : x.toFixed(2);
}

export function formatTable(mine: readonly Metric[], ref: readonly Metric[], p: Paint): string {
  const rows = ref.map((r) => {
    const m = mine.find((x) => x.name === r.name);
    const ratio = m === undefined || r.value === 0 ? undefined : m.value / r.value;
    const worse = ratio !== undefined && (r.better === 'lower' ? ratio > 1.5 : ratio < 1 / 1.5);
    const ratioText = ratio === undefined ? '–' : `${ratio.toFixed(2)}×`;
    return [r.name, m === undefined ? '–' : `${num(m.value)} ${r.unit}`, `${num(r.value)} ${r.unit}`, worse ? p.yellow(ratioText) : ratioText, `${r.better} is better`];
  });
  const head = ['metric', 'yours', 'reference', 'ratio', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => stripAnsi(r[i]!).length)));
  const fmt = (r: string[]) => r.map((c, i) => c + ' '.repeat(widths[i]! - stripAnsi(c).length)).join('  ');
  return [p.bold(fmt(head)), ...rows.map((r) => fmt(r.map((c, i) => (i === 4 ? p.dim(c) : c))))].join('\n');
}

function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}
