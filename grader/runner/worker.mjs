// @ts-check
// The runner's worker process: one vitest instance that runs hidden-test jobs and reports each outcome.
// Plain JavaScript on purpose: loading vitest under a TypeScript loader hook costs ~0.7 s per run.
// The parent (run-jobs.ts) kills this process and its test processes when a test overruns its limit.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { createVitest } from 'vitest/node';

/** @typedef {import('./protocol.ts').Job} Job */
/** @typedef {import('./protocol.ts').ErrorInfo} ErrorInfo */
/** @typedef {import('./protocol.ts').TestOutcome} TestOutcome */
/** @typedef {import('./protocol.ts').ParentMessage} ParentMessage */
/** @typedef {import('./protocol.ts').WorkerMessage} WorkerMessage */

const JOB_QUERY = /[?&]dlab-job=([a-z0-9-]+)/;
const MAX_LOG_LINES = 200;
const ANSI = /\u001b\[[0-9;]*m/g;

/** @type {Map<string, Job>} */
const jobs = new Map();
/** @type {Map<string, string[]>} */
const logs = new Map();

/** @param {WorkerMessage} m */
function send(m) {
  process.send?.(m);
}

/** @param {unknown} e @returns {ErrorInfo} */
function errorInfo(e) {
  const x = /** @type {{ message?: unknown; name?: unknown; dlab?: Record<string, unknown>; diff?: unknown }} */ (e ?? {});
  let message = typeof x.message === 'string' ? x.message : String(e);
  const plainNames = ['Error', 'AssertionError', 'PropertyFailure'];
  if (typeof x.name === 'string' && !plainNames.includes(x.name) && !message.startsWith(x.name)) message = `${x.name}: ${message}`;
  if (typeof x.diff === 'string' && x.diff.trim() !== '' && x.dlab === undefined) message += `\n\n${x.diff}`;
  /** @type {{ -readonly [K in keyof ErrorInfo]: ErrorInfo[K] }} */
  const info = { message: message.replace(ANSI, '') };
  const d = x.dlab;
  if (d !== undefined) {
    if (typeof d['property'] === 'string') info.property = d['property'];
    if (typeof d['seed'] === 'number') info.seed = d['seed'];
    if (typeof d['path'] === 'string') info.path = d['path'];
    if (typeof d['replay'] === 'string') info.replay = d['replay'];
  }
  return info;
}

/** @param {string} moduleId */
function keyOf(moduleId) {
  return basename(moduleId).replace(/\.test\.ts$/, '');
}

/** @param {import('vitest/node').TestCase} tc @returns {TestOutcome} */
function outcomeOf(tc) {
  const r = tc.result();
  const state = r.state === 'passed' ? 'passed' : r.state === 'failed' ? 'failed' : 'skipped';
  return { name: tc.fullName, state, durationMs: Math.round(tc.diagnostic()?.duration ?? 0), errors: (r.errors ?? []).map(errorInfo) };
}

/** @param {string} p */
const isFile = (p) => statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/**
 * Resolves `@impl/<id>` to the job's implementation, and keeps the implementation's own files per job
 * (a `?dlab-job=` query makes them distinct modules, so no state leaks between jobs).
 * @returns {import('vite').Plugin}
 */
function implPlugin() {
  return {
    name: 'dlab-impl',
    enforce: 'pre',
    resolveId(source, importer) {
      if (importer === undefined) return null;
      const m = JOB_QUERY.exec(importer);
      if (m === null) return null;
      const job = jobs.get(/** @type {string} */ (m[1]));
      if (job === undefined) return null;
      if (source === `@impl/${job.exerciseId}`) return `${job.entry}?dlab-job=${job.key}`;
      if (source.startsWith('@impl/')) this.error(`hidden tests import only @impl/${job.exerciseId}, not ${source}`);
      if (source.startsWith('.')) {
        const from = importer.replace(/\?.*$/, '');
        if (!from.startsWith(job.implDir + sep)) return null;
        const base = resolve(dirname(from), source.replace(/\?.*$/, ''));
        const hit = [base, `${base}.ts`, join(base, 'index.ts')].find(isFile);
        if (hit !== undefined && hit.startsWith(job.implDir + sep)) return `${hit}?dlab-job=${job.key}`;
      }
      return null;
    },
  };
}

/** @type {import('vitest/node').Vitest | undefined} */
let vitest;

/** @param {Extract<ParentMessage, { type: 'run' }>} msg */
async function instance(msg) {
  if (vitest !== undefined) return vitest;
  // Test processes inherit this environment: the progress and jobs files the setup file uses.
  Object.assign(process.env, msg.env);
  const v = await createVitest(
    'test',
    {
      config: false,
      root: msg.root,
      watch: false,
      pool: 'forks',
      isolate: false,
      maxWorkers: msg.maxWorkers,
      fileParallelism: msg.maxWorkers > 1,
      setupFiles: [msg.setupFile],
      reporters: [
        {
          onUserConsoleLog(log) {
            const task = log.taskId === undefined ? undefined : vitest?.state.idMap.get(log.taskId);
            const file = task?.file?.filepath;
            if (file === undefined) return;
            const key = keyOf(file);
            const lines = logs.get(key) ?? [];
            if (lines.length < MAX_LOG_LINES) lines.push(...log.content.replace(/\n$/, '').split('\n'));
            logs.set(key, lines);
          },
          onTestModuleEnd(mod) {
            const key = keyOf(mod.moduleId);
            if (!jobs.has(key)) return;
            const tests = [...mod.children.allTests()].map(outcomeOf);
            // Errors of the file (an import that failed, a hook outside any describe) and of suites' hooks.
            const errors = [...mod.errors(), ...[...mod.children.allSuites()].flatMap((s) => s.errors())].map(errorInfo);
            send({ type: 'job', key, outcome: { kind: 'finished', tests, loadErrors: errors, logs: logs.get(key) ?? [] } });
          },
        },
      ],
    },
    {
      plugins: [implPlugin()],
      resolve: { alias: msg.aliases.map((a) => ({ find: new RegExp(a.find), replacement: a.replacement })) },
      logLevel: 'silent',
    },
  );
  vitest = v;
  return v;
}

/** @param {Extract<ParentMessage, { type: 'run' }>} msg */
async function run(msg) {
  const v = await instance(msg);
  mkdirSync(msg.scratch, { recursive: true });
  const project = v.getRootProject();
  const specs = msg.jobs.map((job) => {
    jobs.set(job.key, job);
    const wrapper = join(msg.scratch, `${job.key}.test.ts`);
    writeFileSync(wrapper, `import ${JSON.stringify(`${job.testFile}?dlab-job=${job.key}`)};\n`);
    return project.createSpecification(wrapper);
  });
  await v.runTestSpecifications(specs, false);
}

process.on('disconnect', () => process.exit(0));
process.on('message', (raw) => {
  const msg = /** @type {ParentMessage} */ (raw);
  if (msg.type !== 'run') return;
  run(msg).then(
    () => send({ type: 'done' }),
    (e) => send({ type: 'fatal', message: e instanceof Error ? e.message : String(e) }),
  );
});
