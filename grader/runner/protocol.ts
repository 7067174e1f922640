// The messages between the runner (parent) and its worker process, and the outcome of one graded job.

/** One hidden-test file run against one implementation. */
export interface Job {
  /** Unique within a run; also the wrapper file's name. `[a-z0-9-]+`. */
  readonly key: string;
  readonly exerciseId: string;
  /** The hidden test file (absolute). */
  readonly testFile: string;
  /** The implementation's entry file (absolute); `@impl/<id>` resolves here for this job only. */
  readonly entry: string;
  /** The folder whose files belong to this implementation (relative imports inside it stay per-job). */
  readonly implDir: string;
  /**
   * CPU time one test (or the file's loading) may use, in ms. A wait that never settles is stopped after
   * WALL_FACTOR times it in wall time less the time spent waiting for a CPU (worker.mjs), so a busy machine
   * does not change a verdict.
   */
  readonly limitMs: number;
  /** Stop at the first failing test (check, watch, and verify for stubs and mutants); the rest are marked not run. */
  readonly bail: boolean;
  /** DLAB_* variables the hidden test sees (runConfig). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * One shard of a job split across workers (grade.ts): this worker runs the tests whose index in file
   * order is `index` modulo `count`, and skips those after the lowest index at which any shard failed
   * (written to `controlFile` by the shard that failed). The assignment depends on the file alone, so the
   * merged verdict does not depend on the machine.
   */
  readonly shard?: { readonly index: number; readonly count: number; readonly controlFile: string };
}

export interface ErrorInfo {
  readonly message: string;
  /** From a PropertyFailure: the property in plain words, seed, fast-check path, replay command. */
  readonly property?: string;
  readonly seed?: number;
  readonly path?: string;
  readonly replay?: string;
  /** For an error nobody caught: the index of the test that was running (-1 while the file loaded). */
  readonly index?: number;
}

export type TestState = 'passed' | 'failed' | 'skipped';

export interface TestOutcome {
  /** The full name: `suite > test`. */
  readonly name: string;
  readonly state: TestState;
  /** Skipped because an earlier test failed and the job bails at the first failure. */
  readonly notRun?: true;
  /** Run by another shard of the job (Job.shard): its outcome is in that shard's list. */
  readonly otherShard?: true;
  readonly durationMs: number;
  readonly errors: readonly ErrorInfo[];
}

export type JobOutcome =
  /**
   * The file ran to the end. `loadErrors` are errors outside any test: when no test ran, a failure to import
   * the file (a syntax error, a throw at load time); otherwise a failing beforeAll/afterAll hook.
   */
  | {
      readonly kind: 'finished';
      readonly tests: readonly TestOutcome[];
      readonly loadErrors: readonly ErrorInfo[];
      /** Errors nobody caught while the file ran: a rejection nobody awaited, a throw in a timer callback. */
      readonly unhandled?: readonly ErrorInfo[];
      readonly logs: readonly string[];
      /** For each line of `logs`, the index of the test that printed it (-1: while the file loaded). */
      readonly logAt?: readonly number[];
      /** CPU time the job used in the worker (every thread of the process: loading, tests, GC), in ms. */
      readonly cpuMs?: number;
    }
  /**
   * A test (or the import of the file) ran past its limit and its process was killed: it used more CPU time
   * than the limit (`cpu`: an infinite loop), or waited far past it without finishing (`wall`).
   */
  | {
      readonly kind: 'timed-out';
      readonly test: string;
      /** The test's index in file order (absent: the file's loading overran). */
      readonly index?: number;
      readonly limitMs: number;
      readonly reason: 'cpu' | 'wall';
      readonly cpuMs?: number;
      readonly tests: readonly TestOutcome[];
    }
  /** The worker died for another reason. */
  | { readonly kind: 'crashed'; readonly message: string; readonly outOfMemory?: true };

/** The parent gives the worker one job at a time; progress lines go to `progressFile` (the watchdog reads them). */
export type ParentMessage = { readonly type: 'job'; readonly job: Job; readonly progressFile: string };

export type WorkerMessage =
  /** Loaded (tsx, vitest's runner, the harness core) and waiting for jobs. */
  | { readonly type: 'ready' }
  | { readonly type: 'job'; readonly key: string; readonly outcome: JobOutcome };

/**
 * A line the worker appends to the progress file: which job/test started or ended, or (from its watchdog
 * thread) that the current phase used more CPU time than its limit.
 */
export type ProgressLine =
  | { readonly e: 'file'; readonly key: string }
  | { readonly e: 'start'; readonly key: string; readonly test: string; readonly index?: number }
  | { readonly e: 'end'; readonly key: string; readonly test: string; readonly index?: number; readonly failed?: true }
  | { readonly e: 'over'; readonly why: 'cpu' | 'wall'; readonly cpuMs: number };

export const LOAD_PHASE = '(loading the test file and your code)';
