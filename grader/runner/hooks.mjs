// @ts-check
// Module hooks of the grader's worker (node:module register): how hidden tests, the harness and the code
// under test are found and loaded.
// - TypeScript is compiled by esbuild (as tsx does) into a content-addressed cache on disk, so a file that
//   did not change since any earlier run costs a file read; esbuild itself starts only on a miss, and is
//   warmed up in this thread while the worker loads everything else.
// - `@impl/<id>` points at the job's implementation, and the implementation's own files stay per job;
//   tsconfig.json's other "paths" (`@dlab/harness`, `@solutions/...`) resolve as tsc resolves them.
// - A hidden test's `vitest` import gets the test API without the rest of vitest (vitest-api.mjs).
//
// A job is named by a `?dlab-job=<key>` query on every module that belongs to it. The hidden test is
// imported as `<test>.ts?dlab-job=<key>&impl=<entry>&dir=<implDir>&ex=<id>`; resolving its `@impl/<id>`
// records the job, so the implementation's files (which carry only `?dlab-job=<key>`) resolve within it.
// A new key makes a new module: that is how watch mode reads the learner's file again in a warm process.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve as resolvePath, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** @typedef {{ entry: string; implDir: string; exerciseId: string }} JobInfo */
/** @typedef {{ prefix: string; suffix: string; target: string }} PathAlias */

/** Bump when the compiled output for the same source changes for a reason the key does not show. */
const COMPILER = 'dlab-ts-1';
const TS = /\.[cm]?ts$/;

/** @type {Map<string, JobInfo>} */
const jobs = new Map();
let vitestApi = '';
let cacheDir = '';
/** @type {PathAlias[]} */
let paths = [];
/** @type {typeof import('esbuild') | undefined} */
let esbuild;
let esbuildVersion = '';
const require = createRequire(import.meta.url);

/** @param {{ vitestApi: string; root: string; cacheDir: string; eagerCompiler?: boolean }} data */
export function initialize(data) {
  vitestApi = data.vitestApi;
  cacheDir = data.cacheDir;
  paths = tsconfigPaths(data.root);
  esbuildVersion = /** @type {{ version: string }} */ (require('esbuild/package.json')).version;
  // Start esbuild's service now (asynchronously: resolving does not wait), so that the first changed file
  // does not wait for it; a worker that grades one job starts it only on a cache miss.
  if (data.eagerCompiler === false) return;
  setImmediate(() => {
    compiler()
      .transform('', { loader: 'ts' })
      .catch(() => undefined);
  });
}

function compiler() {
  esbuild ??= /** @type {typeof import('esbuild')} */ (require('esbuild'));
  return esbuild;
}

/** tsconfig.json's `compilerOptions.paths`, the one source of the aliases tsc also uses (`@impl/*` is per job). */
function tsconfigPaths(/** @type {string} */ root) {
  /** @type {PathAlias[]} */
  const out = [];
  try {
    const text = readFileSync(join(root, 'tsconfig.json'), 'utf8');
    const json = JSON.parse(text);
    const base = resolvePath(root, json.compilerOptions?.baseUrl ?? '.');
    for (const [pattern, targets] of Object.entries(json.compilerOptions?.paths ?? {})) {
      if (pattern.startsWith('@impl/') || !Array.isArray(targets) || typeof targets[0] !== 'string') continue;
      const star = pattern.indexOf('*');
      out.push({ prefix: star < 0 ? pattern : pattern.slice(0, star), suffix: star < 0 ? '\0exact' : pattern.slice(star + 1), target: resolvePath(base, targets[0]) });
    }
  } catch {
    /* no aliases: hidden tests then fail to import the harness, with Node's own message */
  }
  // Longest prefix first, as TypeScript picks the most specific pattern.
  return out.sort((a, b) => b.prefix.length - a.prefix.length);
}

/** @param {string} specifier @returns {string | undefined} */
function alias(specifier) {
  for (const a of paths) {
    if (a.suffix === '\0exact') {
      if (specifier === a.prefix) return a.target;
    } else if (specifier.startsWith(a.prefix) && specifier.endsWith(a.suffix) && specifier.length >= a.prefix.length + a.suffix.length) {
      return a.target.replace('*', specifier.slice(a.prefix.length, specifier.length - a.suffix.length));
    }
  }
  return undefined;
}

/** @param {string} p */
const isFile = (p) => statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/** A path as TypeScript would complete it: as written, then with `.ts`, then as a folder's `index.ts`. */
const complete = (/** @type {string} */ base) => [base, `${base}.ts`, join(base, 'index.ts')].find(isFile);

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

/** @param {string} path @param {string} query */
const fileUrl = (path, query = '') => ({ url: `${pathToFileURL(path).href}${query}`, format: TS.test(path) ? 'module' : undefined, shortCircuit: true });

/**
 * @param {string} specifier
 * @param {{ parentURL?: string; conditions?: string[]; importAttributes?: Record<string, string> }} context
 * @param {(specifier: string, context?: object) => Promise<{ url: string; format?: string | null; shortCircuit?: boolean }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  const owner = jobOf(parent);
  if (owner !== undefined) {
    const { key, job } = owner;
    if (specifier === 'vitest') return { url: vitestApi, shortCircuit: true };
    if (specifier.startsWith('@impl/')) {
      if (job === undefined || specifier !== `@impl/${job.exerciseId}`) {
        throw new Error(`hidden tests import only @impl/${job?.exerciseId ?? '<their exercise>'}, not ${specifier}`);
      }
      return fileUrl(job.entry, `?dlab-job=${key}`);
    }
    // A relative import inside the implementation's folder stays within this job.
    if (job !== undefined && specifier.startsWith('.') && parent !== undefined && parent.startsWith('file:')) {
      const from = fileURLToPath(parent);
      if (from.startsWith(job.implDir + sep)) {
        const hit = complete(resolvePath(dirname(from), specifier.replace(/\?.*$/, '')));
        if (hit !== undefined && hit.startsWith(job.implDir + sep)) return fileUrl(hit, `?dlab-job=${key}`);
      }
    }
  }
  const aliased = alias(specifier);
  if (aliased !== undefined) {
    const hit = complete(aliased);
    if (hit !== undefined) return fileUrl(hit);
  }
  // A relative import written without its extension, as TypeScript allows.
  if (specifier.startsWith('.') && parent !== undefined && parent.startsWith('file:') && !/\.[a-z]+$/i.test(specifier)) {
    const hit = complete(resolvePath(dirname(fileURLToPath(parent)), specifier));
    if (hit !== undefined) return fileUrl(hit, owner === undefined ? '' : `?dlab-job=${owner.key}`);
  }
  // Anything else (a relative .ts path, fast-check, node:*) resolves as it would without the job's query.
  const r = await nextResolve(specifier, { ...context, parentURL: parent?.replace(/\?.*$/, '') });
  return TS.test(new URL(r.url).pathname) ? { ...r, format: 'module' } : r;
}

/**
 * @param {string} url
 * @param {{ format?: string | null }} context
 * @param {(url: string, context?: object) => Promise<{ format: string; source?: string | ArrayBuffer | Uint8Array | null; shortCircuit?: boolean }>} nextLoad
 */
export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return nextLoad(url, context);
  const path = fileURLToPath(url.replace(/\?.*$/, ''));
  const source = readFileSync(path, 'utf8');
  return { format: 'module', source: await compile(source, path), shortCircuit: true };
}

/** TypeScript to JavaScript (an ES module with an inline source map), from the cache when the source is known. */
async function compile(/** @type {string} */ source, /** @type {string} */ path) {
  const key = createHash('sha256').update(`${COMPILER}\0${esbuildVersion}\0${process.version}\0${path}\0`).update(source).digest('hex');
  const cached = join(cacheDir, key.slice(0, 2), `${key}.mjs`);
  try {
    return readFileSync(cached, 'utf8');
  } catch {
    /* a miss: compile below */
  }
  const { code: out } = await compiler().transform(source, {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    sourcefile: path,
    sourcemap: 'inline',
    // Stack traces keep the learner's function and class names.
    keepNames: true,
  });
  try {
    mkdirSync(dirname(cached), { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, out);
    renameSync(tmp, cached);
  } catch {
    /* a read-only or full disk: compile again next time */
  }
  return out;
}
