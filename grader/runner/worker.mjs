// @ts-check
// The runner's worker process: runs hidden-test jobs one at a time on vitest's own test runner
// (@vitest/runner), loading TypeScript through hooks.mjs (esbuild with a cache on disk), and reports each
// outcome to the parent (run-jobs.ts).
//
// Why not the full vitest: its start-up (vite's server, transform pipeline, a pool of test processes)
// costs a second or more on every run, and its pool ends the test process whenever its queue empties, so a
// warm process could not be kept for watch mode. Here the harness and fast-check are loaded once and stay
// loaded; a job costs the import of its test and implementation (compiled once, cached on disk) and the
// time of its tests. tsx, which the CLI uses, would cost ~0.2 s more at every start: its loader thread.
//
// Limits are about work, not wall time: a thread in this process watches the CPU time the current phase
// (loading, one test, the hooks after it) has used, and its wall time less the time the process waited for a
// CPU, and writes an 'over' line to the progress file when either passes its limit; the parent then kills
// this process (a `while (true) {}` cannot be stopped any other way). So a busy machine does not turn a
// correct implementation into a time-out.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { runDelayMs } from '../../harness/schedstat.mjs';
import { errorInfo } from './error-info.mjs';
import { ONE_JOB_ENV } from './spawn-worker.mjs';
import { register as registerHooks } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** @typedef {import('./protocol.ts').Job} Job */
/** @typedef {import('./protocol.ts').ErrorInfo} ErrorInfo */
/** @typedef {import('./protocol.ts').TestOutcome} TestOutcome */
/** @typedef {import('./protocol.ts').JobOutcome} JobOutcome */
/** @typedef {import('./protocol.ts').ParentMessage} ParentMessage */
/** @typedef {import('./protocol.ts').WorkerMessage} WorkerMessage */
/** @typedef {import('./protocol.ts').ProgressLine} ProgressLine */
/** @typedef {import('@vitest/runner').VitestRunner} VitestRunner */
/** @typedef {import('@vitest/runner').Task} Task */
/** @typedef {import('@vitest/runner').File} FileTask */

const ROOT = process.argv[2] ?? process.cwd();
const HERE = fileURLToPath(new URL('.', import.meta.url));
const MAX_LOG_LINES = 200;
const ANSI = /\u001b\[[0-9;]*m/g;
/**
 * An async wait (a promise that never settles) uses no CPU: past this many times the CPU limit in patient wall
 * time (not counting time spent waiting for a CPU), the phase is stopped as a hang.
 */
const WALL_FACTOR = 2;

// Loaded once for every job, before the hooks so that they take Node's direct path: vitest's runner and
// what nearly every hidden test uses. The harness's areas (sim, net, lincheck) load on first use.
/** @type {typeof import('@vitest/runner')} */
const vr = await import('@vitest/runner');
await import('fast-check');
// Stack traces of TypeScript point at its own lines (hooks.mjs compiles with inline source maps).
process.setSourceMapsEnabled(true);
registerHooks(pathToFileURL(join(HERE, 'hooks.mjs')).href, {
  data: {
    vitestApi: pathToFileURL(join(HERE, 'vitest-api.mjs')).href,
    root: ROOT,
    cacheDir: join(ROOT, '.dlab', 'cache', 'ts'),
    // A check's worker grades one job: starting esbuild for files that are all in the cache costs it ~10 %.
    eagerCompiler: process.env[ONE_JOB_ENV] !== '1',
  },
});
await import(pathToFileURL(join(ROOT, 'harness', 'index.ts')).href);

// DLAB_PROFILE=DIR (for course authors): a CPU profile of every job, DIR/<job key>.cpuprofile.
const PROFILE_DIR = process.env['DLAB_PROFILE'];
/** @type {import('node:inspector').Session | undefined} */
let inspectorSession;
if (PROFILE_DIR !== undefined && PROFILE_DIR !== '') {
  const { Session } = await import('node:inspector');
  inspectorSession = new Session();
  inspectorSession.connect();
  inspectorSession.post('Profiler.enable');
}
/** @param {string} method @returns {Promise<any>} */
function inspectorPost(method) {
  return new Promise((resolve, reject) => inspectorSession?.post(method, (e, r) => (e ? reject(e) : resolve(r))));
}

/** @param {WorkerMessage} m */
function send(m) {
  process.send?.(m);
}

// ---- progress and the CPU watchdog ----

/** @type {string | undefined} */
let progressFile;
/** @param {ProgressLine} line */
function progress(line) {
  // Synchronous, so the line is on disk before a learner's `while (true) {}` can start.
  if (progressFile !== undefined) appendFileSync(progressFile, JSON.stringify(line) + '\n');
}

// The watchdog's view of the current phase (PHASE): [0] CPU µs at its start, [1] its CPU limit in µs (0:
// disarmed), [2] Date.now() at its start, [3] the main thread's run-queue delay in ms at its start.
const watch = new Float64Array(new SharedArrayBuffer(32));
const { port1, port2 } = new MessageChannel();
const watchdog = new Worker(new URL('./watchdog.mjs', import.meta.url), {
  workerData: { sab: watch.buffer, port: port2, wallFactor: WALL_FACTOR },
  transferList: [port2],
});
watchdog.unref();
port1.unref();
/** @type {string} */
let watched = '';
/** @param {string} file */
function watchFile(file) {
  if (watched === file) return;
  watched = file;
  port1.postMessage(file);
}
/** @param {number} limitMs */
function arm(limitMs) {
  const c = process.cpuUsage();
  watch[0] = c.user + c.system;
  watch[2] = Date.now();
  watch[3] = runDelayMs();
  watch[1] = limitMs * 1000;
}
function disarm() {
  watch[1] = 0;
}

// ---- console output of the code under test ----

/** @type {string[]} */
let logs = [];
/** The index (in file order) of the test that was running when each line of `logs` was printed. */
/** @type {number[]} */
let logAt = [];
/** @type {ErrorInfo[]} */
let unhandled = [];
/** The index (in file order) of the test running now: -1 while the file loads. */
let runningIndex = -1;
for (const level of /** @type {const} */ (['log', 'info', 'warn', 'error', 'debug'])) {
  console[level] = (...args) => {
    if (logs.length >= MAX_LOG_LINES) return;
    const text = args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' ');
    for (const l of text.replace(ANSI, '').replace(/\n$/, '').split('\n')) {
      logs.push(l);
      logAt.push(runningIndex);
    }
  };
}
/** @param {unknown} v */
function inspect(v) {
  try {
    return typeof v === 'object' && v !== null && !(v instanceof Error) ? JSON.stringify(v) : String(v);
  } catch {
    return String(v);
  }
}

// ---- outcomes ----

/** The name a learner knows a task by: its suites and title, without the file. @param {Task} t */
function nameOf(t) {
  /** @type {string[]} */
  const parts = [];
  for (let cur = /** @type {Task | undefined} */ (t); cur !== undefined && cur.type !== undefined && cur !== cur.file; cur = cur.suite) parts.unshift(cur.name);
  return parts.join(' > ');
}

/** @param {Task} t @returns {Task[]} */
function descendants(t) {
  return 'tasks' in t ? t.tasks.flatMap((c) => [c, ...descendants(c)]) : [];
}

/**
 * @param {FileTask} file @param {Set<Task>} bailed @param {Set<Task>} elsewhere tests another shard runs
 * @param {number} cpuMs @returns {JobOutcome}
 */
function outcomeOf(file, bailed, elsewhere, cpuMs) {
  const all = descendants(file);
  /** @type {TestOutcome[]} */
  const tests = all
    .filter((t) => t.type === 'test')
    .map((t) => {
      const r = t.result;
      const state = r?.state === 'pass' ? 'passed' : r?.state === 'fail' ? 'failed' : 'skipped';
      const mark = elsewhere.has(t) ? { otherShard: /** @type {const} */ (true) } : bailed.has(t) ? { notRun: /** @type {const} */ (true) } : {};
      return { name: nameOf(t), state, durationMs: Math.round(r?.duration ?? 0), errors: (r?.errors ?? []).map(errorInfo), ...mark };
    });
  // Errors of the file (an import that failed, a hook outside any describe) and of suites' hooks.
  const loadErrors = [file, ...all.filter((t) => t.type === 'suite')].flatMap((t) => t.result?.errors ?? []).map(errorInfo);
  return { kind: 'finished', tests, loadErrors, unhandled, logs, logAt, cpuMs };
}

// ---- one job ----

/** @param {Job} job @returns {Promise<JobOutcome>} */
async function runJob(job) {
  for (const k of Object.keys(process.env)) if (k.startsWith('DLAB_')) delete process.env[k];
  Object.assign(process.env, job.env);
  logs = [];
  logAt = [];
  unhandled = [];
  runningIndex = -1;
  let failed = false;
  /** @type {Set<Task>} */
  const bailed = new Set();
  /** Tests another shard of this job runs (see Job.shard). @type {Set<Task>} */
  const elsewhere = new Set();
  /** Each test's index in file order. @type {Map<Task, number>} */
  const indexOf = new Map();
  const shard = job.shard;
  /** The lowest index at which a shard of this job failed, from the shards' shared control file. */
  const failedBelow = () => {
    if (shard === undefined) return Infinity;
    try {
      const text = readFileSync(shard.controlFile, 'utf8').trim();
      const n = text === '' ? NaN : Number(text);
      return Number.isFinite(n) ? n : Infinity;
    } catch {
      return Infinity;
    }
  };
  /** Tells the other shards that tests after `index` need not run. @param {number} index */
  const reportFailure = (index) => {
    if (shard === undefined || failedBelow() <= index) return;
    try {
      writeFileSync(shard.controlFile, String(index));
    } catch {
      /* only an optimisation: the parent merges outcomes in file order either way */
    }
  };
  /** @type {string} */
  let current = '';
  const q = new URLSearchParams({ 'dlab-job': job.key, impl: job.entry, dir: job.implDir, ex: job.exerciseId });
  /** @type {VitestRunner} */
  const runner = {
    config: {
      root: ROOT,
      setupFiles: [],
      name: undefined,
      passWithNoTests: false,
      testNamePattern: undefined,
      allowOnly: false,
      sequence: { seed: 0, hooks: 'stack', setupFiles: 'list' },
      chaiConfig: undefined,
      maxConcurrency: 1,
      // No timers of vitest's own: the watchdog thread judges CPU and patient wall time (see arm()).
      testTimeout: 0,
      hookTimeout: 0,
      retry: 0,
      includeTaskLocation: false,
      tags: [],
      tagsFilter: undefined,
      strictTags: false,
    },
    async importFile(filepath) {
      await import(`${pathToFileURL(filepath).href}?${q}`);
    },
    onCollected(files) {
      for (const f of files) {
        descendants(f)
          .filter((t) => t.type === 'test')
          .forEach((t, i) => {
            indexOf.set(t, i);
            if (shard !== undefined && i % shard.count !== shard.index) {
              t.mode = 'skip';
              elsewhere.add(t);
            }
          });
        // A suite with nothing to run here runs no hooks here either (a server another shard starts).
        if (shard !== undefined) {
          for (const s of descendants(f)) if (s.type === 'suite' && descendants(s).every((t) => t.type !== 'test' || elsewhere.has(t))) s.mode = 'skip';
        }
      }
    },
    onBeforeRunSuite(suite) {
      if (failed && job.bail && suite.type === 'suite') {
        suite.mode = 'skip';
        for (const t of descendants(suite)) if (!elsewhere.has(t)) bailed.add(t);
      }
    },
    onBeforeRunTask(test) {
      if (elsewhere.has(test) || (test.mode !== 'run' && test.mode !== 'queued')) return;
      const index = indexOf.get(test) ?? -1;
      if (job.bail && (failed || index > failedBelow())) {
        test.mode = 'skip';
        bailed.add(test);
        return;
      }
      runningIndex = index;
      current = nameOf(test);
      progress({ e: 'start', key: job.key, test: current, index });
      arm(job.limitMs);
    },
    onAfterRunTask(test) {
      if (bailed.has(test) || elsewhere.has(test) || test.result === undefined) return;
      const fail = test.result?.state === 'fail';
      if (fail) {
        failed = true;
        reportFailure(runningIndex);
      }
      progress({ e: 'end', key: job.key, test: current, index: runningIndex, ...(fail ? { failed: true } : {}) });
      arm(job.limitMs);
    },
  };
  progress({ e: 'file', key: job.key });
  if (inspectorSession !== undefined) await inspectorPost('Profiler.start');
  const cpu0 = process.cpuUsage();
  arm(job.limitMs);
  try {
    const [file] = await vr.startTests([job.testFile], runner);
    // Node reports a rejection nobody handled only once the microtask queue is empty: let it, before the outcome.
    await new Promise((resolve) => setImmediate(resolve));
    if (file === undefined) return { kind: 'crashed', message: 'the hidden test file was not collected' };
    const cpu = process.cpuUsage(cpu0);
    return outcomeOf(file, bailed, elsewhere, Math.round((cpu.user + cpu.system) / 1000));
  } finally {
    disarm();
    if (inspectorSession !== undefined && PROFILE_DIR !== undefined) {
      const { profile } = await inspectorPost('Profiler.stop');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(PROFILE_DIR, { recursive: true });
      writeFileSync(join(PROFILE_DIR, `${job.key.replace(/[^\w.-]+/g, '_')}.cpuprofile`), JSON.stringify(profile));
    }
  }
}

// ---- the protocol ----

let queue = Promise.resolve();
process.on('disconnect', () => process.exit(0));
process.on('message', (raw) => {
  const msg = /** @type {ParentMessage} */ (raw);
  if (msg.type !== 'job') return;
  queue = queue.then(async () => {
    progressFile = msg.progressFile;
    watchFile(msg.progressFile);
    try {
      send({ type: 'job', key: msg.job.key, outcome: await runJob(msg.job) });
    } catch (e) {
      send({ type: 'job', key: msg.job.key, outcome: { kind: 'crashed', message: e instanceof Error ? e.message : String(e) } });
    }
  });
});
// An error nobody caught (a rejected promise nobody awaited, a throw in a timer callback) fails the job, as
// vitest fails a run with unhandled errors; it must not end the process.
// The simulator's own signal that a CD fault crashed a node inside a handler (harness/sim/sim.ts, DiskCrash) is
// not an error of the code, even when it escapes from a continuation nobody awaited, or wrapped as a cause.
const DISK_CRASH = Symbol.for('dlab.sim.diskCrash');
/** @param {unknown} e */
function simSignal(e) {
  for (let x = e, depth = 0; typeof x === 'object' && x !== null && depth < 5; x = /** @type {{ cause?: unknown }} */ (x).cause, depth++) {
    if (/** @type {Record<symbol, unknown>} */ (x)[DISK_CRASH] === true) return true;
  }
  return false;
}
process.on('unhandledRejection', (e) => {
  if (!simSignal(e)) unhandled.push({ ...errorInfo(e), index: runningIndex });
});
process.on('uncaughtException', (e) => {
  if (!simSignal(e)) unhandled.push({ ...errorInfo(e), index: runningIndex });
});
send({ type: 'ready' });
