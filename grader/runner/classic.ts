// "This looks like a classic mistake": when a learner's first failure has the shape of a mutant's first failure
// (the same failing test, the same first line of the report, and the same line saying what broke, with numbers
// masked), the verdict says which classic mistake it resembles, in plain words, and points at hint 2. It never
// shows the solution or the patch, and says nothing when two mutants fail alike.
//
// A mutant's signature comes from grading it once, the same way a learner's code is graded (planJob,
// verdictOf). Signatures are cached by content in .dlab/cache/classic/<hash>.json, the hash covering the hidden
// test, the reference and every patch: `dlab verify` writes the file as a side effect (it grades every mutant
// anyway), and `check` / `watch` compute it only when a failure needs it and grading the mutants is cheap (a
// pure exercise); otherwise they use the file when it is there and say nothing when it is not.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../core/course.ts';
import { planJob, verdictOf, type Failure, type PlannedJob, type Verdict } from './grade.ts';
import { GradingSession, RunCancelled } from './run-jobs.ts';
import { mutantTarget } from './targets.ts';

/** Bump when the meaning of a cached signature changes in a way the hashed sources do not show. */
const FORMAT = 1;

/** The shape of a first failure: which test, and the first two lines of its report with numbers masked. */
export interface Signature {
  readonly test: string;
  /** The report's first line (the property), numbers masked. */
  readonly head: string;
  /** What broke: the report's `Why:` line, else its second non-empty line ("safety violated at ..."), numbers masked. */
  readonly detail: string;
}

export interface MutantSignature {
  readonly name: string;
  /** null when the mutant passed, did not load, crashed, or its patch no longer applies: nothing to resemble. */
  readonly signature: Signature | null;
}

interface CacheFile {
  readonly format: number;
  readonly id: string;
  readonly mutants: readonly MutantSignature[];
}

/** What a learner's failure resembles. */
export interface Classic {
  /** The mutant's name (`check --json` prints it as `resembles`). */
  readonly mutant: string;
  /** The mistake in plain words: the catalogue's `mutantNotes` entry, else the name as words. */
  readonly words: string;
}

const read = (p: string): string => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

/** Numbers (counts, times, seeds, ids) vary from case to case; the shape of a line does not. */
export function mask(line: string): string {
  return line.replace(/\d+(?:\.\d+)?/g, '#').replace(/\s+/g, ' ').trim();
}

/** The signature of a verdict's first failure; undefined for a pass, or a failure no mutant can share. */
export function signatureOf(v: Verdict): Signature | undefined {
  if (v.passed || (v.kind !== 'failed' && v.kind !== 'timed-out')) return undefined;
  const f = v.failures[0];
  if (f === undefined) return undefined;
  const lines = f.message.split('\n').filter((l) => l.trim() !== '');
  // What broke, in the report's words: its `Why:` line (fast-check properties), else the line under the property.
  const why = lines.find((l) => /^\s*Why:/.test(l)) ?? lines[1] ?? '';
  // Which nodes and which payloads vary from case to case too: single-letter node ids and quoted strings are masked.
  const detail = mask(why).replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/(?<![\w'])[a-z](?![\w=])/g, '•');
  return { test: f.test, head: mask(lines[0] ?? ''), detail };
}

/** The mutant's mistake in plain words: the catalogue's note, else its name (kebab-case) as words. */
export function mutantWords(ex: Exercise, name: string): string {
  const note = ex.mutantNotes?.[name];
  return note !== undefined && note.trim() !== '' ? note.trim() : name.replace(/-+/g, ' ').trim();
}

/** The cache file of an exercise's signatures: named by the hidden test, the reference and every patch. */
export function cachePath(ex: Exercise, root: string): string {
  const h = createHash('sha256').update(`dlab-classic ${FORMAT}\n${ex.id}\n`);
  h.update(read(ex.paths.test)).update('\0');
  for (const f of ex.paths.solutionFiles) h.update(f.slice(root.length)).update('\0').update(read(f)).update('\0');
  for (const m of ex.mutants) h.update(m).update('\0').update(read(join(ex.paths.mutantsDir, `${m}.patch`))).update('\0');
  return join(root, '.dlab', 'cache', 'classic', `${h.digest('hex')}.json`);
}

/** The cached signatures, when the file is there and current. */
export function loadSignatures(ex: Exercise, root: string): readonly MutantSignature[] | undefined {
  const text = read(cachePath(ex, root));
  if (text === '') return undefined;
  try {
    const j = JSON.parse(text) as CacheFile;
    if (j.format !== FORMAT || j.id !== ex.id || !Array.isArray(j.mutants)) return undefined;
    return j.mutants;
  } catch {
    return undefined;
  }
}

/**
 * Saves the signatures of an exercise's mutants from verdicts already in hand (`dlab verify` has one per
 * mutant). Written only when every mutant of the catalogue has a verdict; a write that fails changes nothing.
 */
export function saveSignatures(ex: Exercise, root: string, verdicts: ReadonlyMap<string, Verdict>): boolean {
  if (ex.mutants.length === 0 || ex.mutants.some((m) => !verdicts.has(m))) return false;
  const file: CacheFile = {
    format: FORMAT,
    id: ex.id,
    mutants: ex.mutants.map((name) => ({ name, signature: signatureOf(verdicts.get(name)!) ?? null })),
  };
  const path = cachePath(ex, root);
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(file, null, 1));
    renameSync(tmp, path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Grades every mutant of the exercise once (stopping at each one's first failure, as check does) and saves
 * their signatures. Uses the session given (watch's warm workers), else two workers of its own.
 */
export async function computeSignatures(ex: Exercise, root: string, session?: GradingSession): Promise<readonly MutantSignature[]> {
  const planned: PlannedJob[] = [];
  for (const m of ex.mutants) {
    const r = planJob(ex, mutantTarget(ex, m), {}, root, '-classic');
    if (r.ok) planned.push(r.value);
  }
  const own = session === undefined ? new GradingSession({ root, maxWorkers: 2 }) : undefined;
  const s = session ?? own!;
  const verdicts = new Map<string, Verdict>();
  try {
    const outcomes = await s.run(planned.map((p) => p.job));
    for (const p of planned) {
      const o = outcomes.get(p.job.key);
      if (o !== undefined && p.target.kind === 'mutant') verdicts.set(p.target.name, verdictOf(p, o, 0, root));
    }
  } finally {
    own?.close();
  }
  // A patch that no longer applies has no verdict: it resembles nothing.
  for (const m of ex.mutants) {
    if (!verdicts.has(m)) verdicts.set(m, { id: ex.id, target: `mutant:${m}`, kind: 'crashed', passed: false, durationMs: 0, tests: 0, notRun: 0, failures: [], logs: [] });
  }
  saveSignatures(ex, root, verdicts);
  return ex.mutants.map((name) => ({ name, signature: signatureOf(verdicts.get(name)!) ?? null }));
}

/**
 * The one mutant whose signature the failure shares: the same test, the same first line, and the same line
 * saying what broke. The test and first line alone are too coarse: every failure of one property shares them,
 * an untouched stub's `TODO` throw too. Several mutants that fail alike (or none): undefined, because a guess
 * would mislead.
 */
export function matchSignature(sig: Signature, mutants: readonly MutantSignature[]): string | undefined {
  const hits = mutants.filter((m) => m.signature !== null && m.signature.test === sig.test && m.signature.head === sig.head && m.signature.detail === sig.detail);
  return hits.length === 1 ? hits[0]!.name : undefined;
}

/** Grading every mutant is cheap for a pure exercise (properties of functions); never for a simulation or sockets. */
export function cheapToCompute(ex: Exercise): boolean {
  return ex.kind === 'pure';
}

/**
 * What a failed verdict resembles, or undefined. Reads the cache; computes it only when `compute` allows and
 * it is cheap. Never throws for a problem of its own (the line is a bonus, never a reason for grading to fail);
 * a run stopped by the learner (RunCancelled) goes through.
 */
export async function classicFor(ex: Exercise, v: Verdict, root: string, opts: { session?: GradingSession; compute?: boolean } = {}): Promise<Classic | undefined> {
  const sig = signatureOf(v);
  if (sig === undefined || ex.mutants.length === 0) return undefined;
  try {
    let sigs = loadSignatures(ex, root);
    if (sigs === undefined && opts.compute !== false && cheapToCompute(ex)) sigs = await computeSignatures(ex, root, opts.session);
    if (sigs === undefined) return undefined;
    const name = matchSignature(sig, sigs);
    return name === undefined ? undefined : { mutant: name, words: mutantWords(ex, name) };
  } catch (e) {
    if (e instanceof RunCancelled) throw e;
    return undefined;
  }
}

/** The line a verdict gains. */
export function classicLine(c: Classic): string {
  return `This looks like a classic mistake: ${c.words.replace(/[.\s]+$/, '')}. Try hint 2 (npx dlab hint).`;
}

const resembled = new WeakMap<Verdict, Classic>();

/** The classic mistake a verdict was annotated with (annotate), for `check --json`'s `resembles`. */
export function resemblesOf(v: Verdict): Classic | undefined {
  return resembled.get(v);
}

/**
 * The verdict with the classic line in its first failure's report, where every view of it shows it (check,
 * watch in a terminal, where a long report is cut to the screen): at the end of the report's first paragraph
 * when that is short, else right under its first line. The first line, which the progress store keeps as
 * the headline, is unchanged.
 */
export function annotate(v: Verdict, c: Classic): Verdict {
  const [first, ...rest] = v.failures;
  if (first === undefined) return v;
  const lines = first.message.split('\n');
  const blank = lines.findIndex((l, i) => i > 0 && l.trim() === '');
  const at = blank > 0 && blank <= 6 ? blank : lines.length <= 6 ? lines.length : 1;
  // Indented as the report's lines around it are (a simulation report indents all but its first line).
  const indent = /^\s*/.exec(lines[at > 1 ? at - 1 : 1] ?? '')![0];
  const message = [...lines.slice(0, at), `${indent}${classicLine(c)}`, ...lines.slice(at)].join('\n');
  const failure: Failure = { ...first, message };
  const out: Verdict = { ...v, failures: [failure, ...rest] };
  resembled.set(out, c);
  return out;
}
