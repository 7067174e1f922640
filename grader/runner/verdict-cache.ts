// A content-addressed cache of job outcomes for `dlab verify`: an exercise whose hidden test, implementation,
// mutant patch, harness, runner and lockfile are unchanged is not graded again on the same machine.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../core/course.ts';
import { isFile } from '../core/paths.ts';
import type { Job, JobOutcome } from './protocol.ts';
import type { Target } from './targets.ts';

/** Bump when the meaning of a cached outcome changes in a way the hashed sources do not show. */
const FORMAT = 1;

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Every file under `dir` (recursively) whose name passes `keep`, sorted, so the hash does not depend on readdir order. */
function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries
    .filter((e) => keep(e) && !e.split('/').includes('node_modules'))
    .map((e) => join(dir, e))
    .filter(isFile)
    .sort();
}

/** `@solutions/...` modules a source imports: an exercise may build on an earlier reference. */
function solutionImports(source: string, root: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/['"]@solutions\/([^'"]+)['"]/g)) {
    const rel = m[1]!;
    const base = join(root, 'solutions', rel);
    const hit = [base, `${base}.ts`, join(base, 'index.ts')].find(isFile);
    if (hit !== undefined) out.push(hit);
  }
  return out;
}

export class VerdictCache {
  private readonly dir: string;
  private readonly shared: string;

  constructor(private readonly root: string) {
    this.dir = join(root, '.dlab', 'cache', 'verdicts');
    // What every verdict depends on: the harness, the runner, the pinned dependencies, the Node version.
    const h = createHash('sha256').update(`dlab-verdict-cache ${FORMAT} ${process.version}\n`);
    const sources = [
      ...filesUnder(join(root, 'harness'), (n) => /\.(ts|mjs|json|pem|txt|edn|log|tsv)$/.test(n) && !n.endsWith('.test.ts')),
      ...filesUnder(join(root, 'grader', 'runner'), (n) => /\.(ts|mjs)$/.test(n) && !n.endsWith('.test.ts')),
      join(root, 'package-lock.json'),
      join(root, 'tsconfig.json'),
    ];
    for (const f of sources) h.update(`${f.slice(root.length)}\n`).update(read(f)).update('\n');
    this.shared = h.digest('hex');
  }

  /** The key of one job: everything that can change its outcome. */
  key(ex: Exercise, target: Target, job: Job): string {
    const h = createHash('sha256').update(this.shared);
    const { key: _key, entry: _entry, implDir: _dir, testFile: _test, ...rest } = job;
    h.update(JSON.stringify(rest));
    const implFiles =
      target.kind === 'exercises' ? ex.paths.stubFiles : target.kind === 'solutions' || target.kind === 'mutant' ? ex.paths.solutionFiles : [job.entry];
    const test = read(ex.paths.test);
    const sources = [test, ...implFiles.map(read)];
    if (target.kind === 'mutant') sources.push(read(target.patch));
    const deps = [...new Set(sources.flatMap((s) => solutionImports(s, this.root)))].sort();
    for (const s of [...sources, ...deps.map(read)]) h.update(s).update('\0');
    return h.digest('hex');
  }

  get(key: string): JobOutcome | undefined {
    const text = read(join(this.dir, `${key}.json`));
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as JobOutcome;
    } catch {
      return undefined;
    }
  }

  /** Only outcomes that a rerun would repeat: a kill or a crash may have come from the machine, not the code. */
  set(key: string, outcome: JobOutcome): void {
    if (outcome.kind !== 'finished') return;
    mkdirSync(this.dir, { recursive: true });
    const tmp = join(this.dir, `${key}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(outcome));
    renameSync(tmp, join(this.dir, `${key}.json`));
  }
}
