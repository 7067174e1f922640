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
  /** Wall-clock limit for one test, in ms. */
  readonly limitMs: number;
  /** DLAB_* variables the hidden test sees (runConfig). */
  readonly env: Readonly<Record<string, string>>;
}

export interface ErrorInfo {
  readonly message: string;
  /** From a PropertyFailure: the property in plain words, seed, fast-check path, replay command. */
  readonly property?: string;
  readonly seed?: number;
  readonly path?: string;
  readonly replay?: string;
}

export type TestState = 'passed' | 'failed' | 'skipped';

export interface TestOutcome {
  /** The full name: `suite > test`. */
  readonly name: string;
  readonly state: TestState;
  readonly durationMs: number;
  readonly errors: readonly ErrorInfo[];
}

export type JobOutcome =
  /**
   * The file ran to the end. `loadErrors` are errors outside any test: when no test ran, a failure to import
   * the file (a syntax error, a throw at load time); otherwise a failing beforeAll/afterAll hook.
   */
  | { readonly kind: 'finished'; readonly tests: readonly TestOutcome[]; readonly loadErrors: readonly ErrorInfo[]; readonly logs: readonly string[] }
  /** A test (or the import of the file) ran past the limit and its process was killed. */
  | { readonly kind: 'timed-out'; readonly test: string; readonly limitMs: number; readonly tests: readonly TestOutcome[] }
  /** The worker died for another reason. */
  | { readonly kind: 'crashed'; readonly message: string };

export type ParentMessage = {
  readonly type: 'run';
  /** Set in the worker's environment before vitest starts its test processes (they inherit it). */
  readonly env: Readonly<Record<string, string>>;
  readonly jobs: readonly Job[];
  readonly maxWorkers: number;
  readonly root: string;
  /** The setup file vitest runs before each hidden-test file. */
  readonly setupFile: string;
  /** Where the worker writes the small wrapper file of each job. */
  readonly scratch: string;
  /** Import aliases, with `find` as a RegExp source (regexes do not cross IPC). */
  readonly aliases: ReadonlyArray<{ readonly find: string; readonly replacement: string }>;
};

export type WorkerMessage =
  | { readonly type: 'job'; readonly key: string; readonly outcome: JobOutcome }
  | { readonly type: 'done' }
  | { readonly type: 'fatal'; readonly message: string };

/** A line the test process appends to the progress file: which job/test started or ended. */
export type ProgressLine =
  | { readonly e: 'file'; readonly key: string }
  | { readonly e: 'start'; readonly key: string; readonly test: string }
  | { readonly e: 'end'; readonly key: string; readonly test: string };

export const WORKER_ENV = {
  progressFile: 'DLAB_PROGRESS_FILE',
  jobsFile: 'DLAB_JOBS_FILE',
} as const;

export const LOAD_PHASE = '(loading the test file and your code)';
