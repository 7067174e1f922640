// @ts-check
// Module resolution hooks of the grader's worker (registered with node:module after tsx, so they run first):
// `@impl/<id>` points at the job's implementation, the implementation's own files stay per job, and a
// hidden test's `vitest` import gets the test API without the rest of vitest.
//
// A job is named by a `?dlab-job=<key>` query on every module that belongs to it. The hidden test is
// imported as `<test>.ts?dlab-job=<key>&impl=<entry>&dir=<implDir>&ex=<id>`; resolving its `@impl/<id>`
// records the job, so the implementation's files (which carry only `?dlab-job=<key>`) resolve within it.
// A new key makes a new module: that is how watch mode reads the learner's file again in a warm process.
import { statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** @typedef {{ entry: string; implDir: string; exerciseId: string }} JobInfo */

/** @type {Map<string, JobInfo>} */
const jobs = new Map();
/** @type {string} */
let vitestApi = '';

/** @param {{ vitestApi: string }} data */
export function initialize(data) {
  vitestApi = data.vitestApi;
}

/** @param {string} p */
const isFile = (p) => statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/** @param {string | undefined} url @returns {{ key: string; job: JobInfo | undefined } | undefined} */
function jobOf(url) {
  if (url === undefined || !url.includes('dlab-job=')) return undefined;
  const q = new URL(url).searchParams;
  const key = q.get('dlab-job');
  if (key === null) return undefined;
  const entry = q.get('impl');
  if (entry !== null && !jobs.has(key)) {
    jobs.set(key, { entry, implDir: q.get('dir') ?? dirname(entry), exerciseId: q.get('ex') ?? '' });
  }
  return { key, job: jobs.get(key) };
}

/**
 * An implementation is an ES module wherever it lives: a mutant's scratch copy or a learner's file outside
 * the repo has no package.json saying `"type": "module"` above it.
 * @param {{ url: string; format?: string | null }} r
 */
function asModule(r) {
  return /\.[cm]?ts(\?|$)/.test(r.url) ? { ...r, format: 'module' } : r;
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string; conditions?: string[]; importAttributes?: Record<string, string> }} context
 * @param {(specifier: string, context?: object) => Promise<{ url: string; format?: string | null; shortCircuit?: boolean }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  const owner = jobOf(parent);
  if (owner === undefined) return nextResolve(specifier, context);
  const { key, job } = owner;
  if (specifier === 'vitest') return { url: vitestApi, shortCircuit: true };
  if (specifier.startsWith('@impl/')) {
    if (job === undefined || specifier !== `@impl/${job.exerciseId}`) {
      throw new Error(`hidden tests import only @impl/${job?.exerciseId ?? '<their exercise>'}, not ${specifier}`);
    }
    return asModule(await nextResolve(`${pathToFileURL(job.entry).href}?dlab-job=${key}`, context));
  }
  // A relative import inside the implementation's folder stays within this job.
  if (job !== undefined && specifier.startsWith('.') && parent !== undefined && parent.startsWith('file:')) {
    const from = fileURLToPath(parent);
    if (from.startsWith(job.implDir + sep)) {
      const base = resolvePath(dirname(from), specifier.replace(/\?.*$/, ''));
      const hit = [base, `${base}.ts`, join(base, 'index.ts')].find(isFile);
      if (hit !== undefined && hit.startsWith(job.implDir + sep)) return asModule(await nextResolve(`${pathToFileURL(hit).href}?dlab-job=${key}`, context));
    }
  }
  // Anything else (the harness, fast-check, node:*) is shared by every job: resolve it as if imported without the query.
  return nextResolve(specifier, { ...context, parentURL: parent?.replace(/\?.*$/, '') });
}
