// `dlab watch`: re-grade on every save, with one warm grader, a file watcher that proves it hears saves
// (else it polls), single-key actions in a terminal, and JSON events for editors and scripts.
import { randomInt } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Exercise } from '../../core/course.ts';
import { DlabExit } from '../../core/errors.ts';
import { shown } from '../../core/paths.ts';
import { planJob, verdictOf, type Failure, type PlannedJob, type Verdict } from '../../runner/grade.ts';
import { GradingSession, RunCancelled } from '../../runner/run-jobs.ts';
import { SHARDS } from '../../runner/shards.ts';
import { firstUnfinished, type Context } from '../context.ts';
import { line, paint, type Io } from '../io.ts';
import { page } from '../pager.ts';
import { renderLessonPage, renderVerdict, wrapText } from '../render.ts';
import { editLocation, gradeAndRecord } from './grade.ts';

export interface WatchOptions {
  readonly poll?: boolean;
  readonly json?: boolean;
  /** Stop after this many verdicts (tests and benchmarks); unlimited by default. */
  readonly maxRuns?: number;
  /** Resolves to stop watching (tests); SIGINT/SIGTERM and `q` stop it too. */
  readonly until?: Promise<unknown>;
}

/** One line of `dlab watch --json` (a documented contract). */
export type WatchEvent =
  | { readonly event: 'run-start'; readonly id: string }
  | { readonly event: 'verdict'; readonly id: string; readonly passed: boolean; readonly durationMs: number; readonly failures: Verdict['failures'] }
  /** After a pass, the same code on fresh seed families in the background: never recorded, never a verdict. */
  | {
      readonly event: 'confidence';
      readonly id: string;
      readonly families: number;
      readonly passed: number;
      /** The first family that failed: its seed shift and failure (with the replay command). */
      readonly failed?: { readonly seedShift: number; readonly failure: Failure };
    };

/**
 * Seed families a pass is graded on again, in the background, one after another in a worker of their own: each
 * is the whole hidden test with other seeds (other fault schedules), as `dlab check --explore` runs them. Learners
 * of Maelstrom and 6.5840 re-run tests many times by hand before they trust a pass; watch does it for them.
 */
export const CONFIDENCE_FAMILIES = 10;

type Confidence =
  | { readonly state: 'running'; readonly done: number }
  | { readonly state: 'passed' }
  | { readonly state: 'failed'; readonly done: number; readonly seedShift: number; readonly failure: Failure };

/** The line under a pass that says how the background runs went. */
export function confidenceLine(c: Confidence, io: Io, id: string): string[] {
  const p = paint(io);
  const n = CONFIDENCE_FAMILIES;
  switch (c.state) {
    case 'running':
      return [p.dim(`Confidence: passed on ${c.done}/${n} more seed families so far (fresh fault schedules, in the background) …`)];
    case 'passed':
      return [p.green(`Confidence: passed on ${n}/${n} more seed families (fresh fault schedules).`)];
    case 'failed': {
      const first = c.failure.message.split('\n').find((l) => l.trim() !== '') ?? c.failure.test;
      return [
        p.red(`Confidence: failed on seed family ${c.done} of ${n} (seed shift ${c.seedShift}): ${first.replace(/^(Property violated: |✗ )/, '')}`),
        p.dim(`Your pass stays recorded; this case fails all the same. See it: ${c.failure.replay ?? `npx dlab check ${id} --explore ${n}`}`),
      ];
    }
  }
}

/**
 * Saves closer together than this grade once. chokidar already waits for a file's size to hold still for 25 ms
 * (awaitWriteFinish) and folds an editor's rename-into-place into one change (atomic), so this only gathers the
 * events of one save; a save that comes later while a run is on queues one more run.
 */
const DEBOUNCE_MS = 10;
const PROBE_WAIT_MS = 1_000;
const POLL_INTERVAL_MS = 300;

/** The exercise's files as the watcher sees them: the folder to watch and which names in it matter. */
function watchedFiles(ex: Exercise): { dir: string; files: Set<string> } {
  return { dir: ex.paths.stubDir ?? dirname(ex.paths.stub), files: new Set(ex.paths.stubFiles) };
}

/**
 * Watches the exercise's folder (not the file: editors that save by rename replace the file).
 * Unless told to poll, it first writes a probe file and waits for its event; on network drives and some
 * WSL set-ups no event comes, and it switches to polling with a notice.
 */
async function startWatcher(ex: Exercise, poll: boolean, onChange: () => void, notice: (s: string) => void): Promise<FSWatcher> {
  const { watch } = await import('chokidar');
  const { dir, files } = watchedFiles(ex);
  const probe = join(dir, `.dlab-probe-${process.pid}`);
  let heardProbe: (() => void) | undefined;
  const make = (usePolling: boolean) => {
    const w = watch(dir, {
      ignoreInitial: true,
      usePolling,
      interval: POLL_INTERVAL_MS,
      depth: ex.files === undefined ? 0 : 8,
      atomic: true,
      awaitWriteFinish: { stabilityThreshold: 25, pollInterval: 10 },
    });
    w.on('all', (_event, path) => {
      if (path === probe) heardProbe?.();
      else if (files.has(path) || (ex.files !== undefined && path.endsWith('.ts'))) onChange();
    });
    return new Promise<FSWatcher>((ready) => w.on('ready', () => ready(w)));
  };
  if (poll) return make(true);
  const w = await make(false);
  const heard = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), PROBE_WAIT_MS);
    heardProbe = () => {
      clearTimeout(timer);
      resolve(true);
    };
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(probe, 'dlab checks that it hears saves here; this file is deleted at once\n');
    } catch {
      clearTimeout(timer);
      resolve(false);
    }
  });
  heardProbe = undefined;
  rmSync(probe, { force: true });
  if (heard) return w;
  await w.close();
  notice(`file events do not arrive from ${shown(dir)} (a network drive or WSL?); polling every ${POLL_INTERVAL_MS} ms instead`);
  return make(true);
}

function keyHelp(io: Io, passed: boolean): string {
  const p = paint(io);
  const keys = [['h', 'hint'], ['d', 'diff'], ['c', 'compare'], ...(passed ? [['n', 'next']] : []), ['l', 'list'], ['r', 're-run'], ['q', 'quit']];
  return p.dim(keys.map(([k, what]) => `${p.bold(k!)} ${what}`).join('  '));
}

function passSummary(ctx: Context, ex: Exercise, keys: boolean): string {
  const store = ctx.store();
  const attempts = store.attempts(ex.id);
  const first = attempts[0]?.at;
  const mins = first === undefined ? 0 : Math.round((Date.now() - first) / 60_000);
  const spent = mins < 1 ? 'in under a minute' : `over ${mins} min`;
  const hints = store.hintsRevealed(ex.id);
  return `Solved in ${attempts.length} attempt${attempts.length === 1 ? '' : 's'} ${spent}, with ${hints} hint${hints === 1 ? '' : 's'}. ${keys ? 'Press d to see' : `\`npx dlab diff ${ex.id}\` shows`} your code beside the reference.`;
}

/**
 * What to do after a verdict, said inside watch: with keys in a terminal, else as saves and commands. What is
 * next is what `dlab next` opens (firstUnfinished), so the two never disagree.
 */
export function watchSteps(ctx: Context, ex: Exercise, v: Verdict, keys: boolean): string[] {
  const p = paint(ctx.io);
  if (v.passed) {
    const after = firstUnfinished(ctx.course(), ctx.store());
    if (after === undefined) return [p.dim('Every exercise has passed.')];
    return [`${p.bold('Next:')} ${keys ? 'press n' : 'npx dlab next'}   ${p.dim(`(${after.id}: ${after.title})`)}`];
  }
  const then = keys ? 'save to grade again; press h for a hint' : 'save to grade again; `npx dlab hint` for a hint';
  return [`${p.bold('Edit:')} ${editLocation(ex, v, ctx.root, ctx.io.cwd)}   ${p.dim(`(${then})`)}`];
}

/** The exit code of a stop by signal: 128 + its number, as shells report it (Ctrl-C: 130). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export async function watch(ctx: Context, id: string | undefined, opts: WatchOptions = {}): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  let ex = ctx.exercise(id);
  ctx.store().setCurrent(ex.id);
  const json = opts.json === true;
  const keys = io.interactive && !json;
  const session = new GradingSession({ root: ctx.root, maxWorkers: SHARDS });
  // Its start-up (tsx, the harness) overlaps the first render, so the first save is graded warm.
  session.warm();
  const emit = (e: WatchEvent) => line(io.stdout, JSON.stringify(e));
  const say = (s: string) => (json ? line(io.stderr, s) : line(io.stdout, s));

  let running = false;
  let again = false;
  let runs = 0;
  let last: Verdict | undefined;
  let repeated = false; // the last run graded code already graded, with the same verdict: no new attempt
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let stop: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let extra: string[] = []; // hint or compare output shown under the verdict until the next run

  // After a pass: the same code on fresh seed families, in a worker of its own that any save or key stops.
  let confidence: Confidence | undefined;
  let confidenceSession: GradingSession | undefined;
  let confidenceRuns = 0;
  const stopConfidence = () => {
    confidenceSession?.close();
    confidenceSession = undefined;
  };
  const startConfidence = () => {
    stopConfidence();
    const shifts = Array.from({ length: CONFIDENCE_FAMILIES }, () => randomInt(1, 2 ** 14));
    const plans: Array<{ readonly seedShift: number; readonly plan: PlannedJob }> = [];
    for (const [i, seedShift] of shifts.entries()) {
      const r = planJob(ex, { kind: 'exercises' }, { seedShift }, ctx.root, `-c${++confidenceRuns}-${i}`);
      if (!r.ok) return;
      plans.push({ seedShift, plan: r.value });
    }
    const s = new GradingSession({ root: ctx.root, maxWorkers: 1 });
    confidenceSession = s;
    confidence = { state: 'running', done: 0 };
    let done = 0;
    const report = () => {
      if (json) {
        if (confidence?.state === 'running') return;
        const failed = confidence?.state === 'failed' ? { seedShift: confidence.seedShift, failure: confidence.failure } : undefined;
        emit({ event: 'confidence', id: ex.id, families: CONFIDENCE_FAMILIES, passed: failed === undefined ? CONFIDENCE_FAMILIES : done - 1, ...(failed === undefined ? {} : { failed }) });
      } else if (keys) draw();
      else if (confidence !== undefined && confidence.state !== 'running') for (const l of confidenceLine(confidence, io, ex.id)) line(io.stdout, wrap(l));
    };
    s.run(
      plans.map((x) => x.plan.job),
      (key, outcome) => {
        if (s !== confidenceSession || confidence?.state !== 'running') return;
        const x = plans.find((y) => y.plan.job.key === key);
        if (x === undefined) return;
        done++;
        const v = verdictOf(x.plan, outcome, 0, ctx.root);
        const failure = v.failures[0];
        if (!v.passed) {
          confidence = { state: 'failed', done, seedShift: x.seedShift, failure: failure ?? { test: '(hidden test)', message: v.kind } };
          stopConfidence();
        } else confidence = done === CONFIDENCE_FAMILIES ? { state: 'passed' } : { state: 'running', done };
        report();
      },
    )
      .then(() => {
        if (s === confidenceSession) confidenceSession = undefined;
        s.close();
      })
      .catch(() => undefined);
  };

  // Prose is wrapped on word boundaries to the terminal (a terminal would break it mid-word); diagrams,
  // tables and commands to copy are left whole.
  const width = Math.max(20, io.columns - 1);
  const wrap = (s: string) => wrapText(s, width, { keepPreformatted: true });
  const draw = () => {
    if (json) return;
    if (keys) io.stdout.write('\u001b[2J\u001b[H');
    const v = last;
    line(io.stdout, wrap(`${p.bold('dlab watch')} ${p.dim('·')} ${ex.id} ${p.dim('·')} ${ex.title}`));
    line(io.stdout);
    if (v !== undefined) {
      // In a terminal the screen is redrawn per run: keep the report within it, so the header stays in view.
      line(io.stdout, renderVerdict(v, io, keys ? { maxMessageLines: Math.max(8, io.rows - 16), width } : { width }));
      if (repeated) line(io.stdout, wrap(p.dim('This code was graded before, with the same verdict: not counted as another attempt.')));
      line(io.stdout);
      if (v.passed) line(io.stdout, wrap(p.green(passSummary(ctx, ex, keys))));
      if (v.passed && confidence !== undefined) for (const l of confidenceLine(confidence, io, ex.id)) line(io.stdout, wrap(l));
      for (const l of watchSteps(ctx, ex, v, keys)) line(io.stdout, wrap(l));
    }
    for (const l of extra) line(io.stdout, wrap(l));
    line(io.stdout);
    line(io.stdout, p.dim(`watching ${[...watchedFiles(ex).files].map((f) => shown(f, io.cwd)).join(', ')}: save to re-grade`));
    if (keys) line(io.stdout, keyHelp(io, v?.passed === true));
    else line(io.stdout, p.dim('Ctrl-C to stop'));
  };

  const run = async () => {
    if (quitting) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    extra = [];
    // A save (or r) stops the background runs of the code it replaces.
    stopConfidence();
    confidence = undefined;
    try {
      if (json) emit({ event: 'run-start', id: ex.id });
      else if (keys) {
        io.stdout.write('\u001b[2J\u001b[H');
        line(io.stdout, p.dim(`grading ${ex.id} …`));
      } else line(io.stdout, p.dim(`grading ${ex.id} …`));
      const attempts = () => ctx.store().progress().get(ex.id)?.attempts ?? 0;
      const before = attempts();
      last = await gradeAndRecord(ctx, ex, { kind: 'exercises' }, { shards: SHARDS }, session);
      repeated = attempts() === before;
      runs++;
      if (json) emit({ event: 'verdict', id: ex.id, passed: last.passed, durationMs: last.durationMs, failures: last.failures });
      draw();
      if (last.passed && !quitting) startConfidence();
    } catch (e) {
      if (e instanceof RunCancelled) return; // the learner quit mid-run: no verdict, nothing recorded
      if (!(e instanceof DlabExit)) throw e;
      line(io.stderr, `dlab: ${e.error.message}${e.error.next === undefined ? '' : `\n  next: ${e.error.next}`}`);
    } finally {
      running = false;
      if (opts.maxRuns !== undefined && runs >= opts.maxRuns) stop?.();
      else if (again && !quitting) {
        again = false;
        void run();
      }
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), DEBOUNCE_MS);
  };

  const switchTo = async (next: Exercise) => {
    stopConfidence();
    confidence = undefined;
    ex = next;
    ctx.store().setCurrent(ex.id);
    last = undefined;
    await watcher?.close();
    watcher = await startWatcher(ex, opts.poll === true, schedule, say);
    await run();
  };

  let quitting = false;
  let exitCode = 0;
  const quit = (code = 0) => {
    if (quitting) return;
    quitting = true;
    exitCode = code;
    stopConfidence();
    session.close();
    stop?.();
  };

  let busy = false; // a key's action (a prompt, a diff) is on screen
  let paging = false; // a pager has the terminal: its Ctrl-C is the pager's, not a stop
  const onKey = async (key: string) => {
    // Quitting always works, mid-run too: stopping the session kills the worker at once.
    if (key === 'q') return quit();
    if (key === '\u0003') return quit(SIGNAL_EXIT.SIGINT); // Ctrl-C in raw mode: the same as the signal
    if (running || busy) return; // other keystrokes during a run are dropped, so the screen is drawn once per run
    busy = true;
    try {
      if (key === 'r') await run();
      else if (key === 'h') {
        extra = await captureCommand(ctx, async (c) => (await import('./learn.ts')).hint(c, ex.id, { keys: true }));
        draw();
      } else if (key === 'c') {
        extra = [p.dim(`comparing with the reference on the same seeds …`)];
        draw();
        extra = await captureCommand(ctx, async (c) => (await import('./solution.ts')).compare(c, ex.id));
        draw();
      } else if (key === 'd') {
        setRaw(io, false);
        io.stdout.write('\u001b[2J\u001b[H');
        await (await import('./solution.ts')).diff(ctx, ex.id, {});
        line(io.stdout, p.dim('\npress any key to go back'));
        setRaw(io, true);
        await nextKey(io);
        draw();
      } else if (key === 'n' && last?.passed === true) {
        // The same exercise `dlab next` would open, with its lesson: paged, or printed and held until a key.
        const next = firstUnfinished(ctx.course(), ctx.store());
        if (next !== undefined) {
          setRaw(io, false);
          io.stdin.removeListener('data', onData);
          io.stdin.pause();
          io.stdout.write('\u001b[2J\u001b[H');
          const text = await renderLessonPage(next, io, ctx.course().exercises.length);
          paging = true;
          const shown = await page(io, `${text}\n`).finally(() => (paging = false));
          setRaw(io, true);
          if (shown === 'printed') {
            line(io.stdout, p.dim(`press any key to start on ${next.id}`));
            await nextKey(io);
          }
          io.stdin.on('data', onData);
          await switchTo(next);
        }
      } else if (key === 'l') {
        setRaw(io, false);
        const { select, isCancel } = await import('@clack/prompts');
        const progress = ctx.store().progress();
        const picked = await select({
          message: 'Watch which exercise?',
          options: ctx.course().exercises.map((e) => ({
            value: e.id,
            label: `${progress.get(e.id)?.status === 'passed' ? '✓' : ' '} ${e.id}`,
            hint: e.title,
          })),
          initialValue: ex.id,
          input: io.stdin,
          output: io.stdout as unknown as import('node:stream').Writable,
        });
        setRaw(io, true);
        const chosen = isCancel(picked) ? undefined : ctx.course().byId.get(String(picked));
        if (chosen !== undefined && chosen.id !== ex.id) await switchTo(chosen);
        else draw();
      }
    } finally {
      busy = false;
    }
  };

  const onData = (b: Buffer) => void onKey(b.toString());
  if (keys) {
    setRaw(io, true);
    io.stdin.on('data', onData);
  }
  const onSigint = () => {
    if (!paging) quit(SIGNAL_EXIT.SIGINT);
  };
  const onSigterm = () => quit(SIGNAL_EXIT.SIGTERM);
  process.on('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  try {
    watcher = await startWatcher(ex, opts.poll === true, schedule, say);
    // Not awaited alone: a quit during the first run must not wait for it (an error in it still ends watch).
    const first = run();
    await Promise.race([stopped, opts.until ?? new Promise(() => undefined), first.then(() => new Promise(() => undefined))]);
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
    clearTimeout(timer);
    if (keys) {
      io.stdin.removeListener('data', onData);
      setRaw(io, false);
      io.stdin.pause();
    }
    await watcher?.close();
    stopConfidence();
    session.close();
  }
  return exitCode;
}

function setRaw(io: Io, on: boolean): void {
  if (io.stdin.isTTY === true && io.stdin.setRawMode !== undefined) {
    io.stdin.setRawMode(on);
    if (on) io.stdin.resume();
  }
}

function nextKey(io: Io): Promise<void> {
  return new Promise((resolve) => io.stdin.once('data', () => resolve()));
}

/** Runs another command with its output captured, to show it under the verdict. */
async function captureCommand(ctx: Context, fn: (c: Context) => Promise<number>): Promise<string[]> {
  let text = '';
  const io: Io = { ...ctx.io, interactive: false, stdout: { write: (s: string) => (text += s) } };
  await fn({ ...ctx, io });
  return ['', ...text.replace(/\n$/, '').split('\n')];
}
