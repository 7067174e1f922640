// Errors as values with a stable code, a one-line reason and the next step (thrown only at the CLI edge).

export type ErrorCode =
  | 'unknown-exercise'
  | 'unknown-command'
  | 'bad-usage'
  | 'bad-target'
  | 'catalogue'
  | 'progress-store'
  | 'mutant-does-not-apply'
  | 'runner'
  | 'io'
  /** A bug in dlab itself. */
  | 'internal';

export interface DlabError {
  readonly code: ErrorCode;
  /** One line: what went wrong. */
  readonly message: string;
  /** One line: what to do next. */
  readonly next?: string;
}

export type Result<T, E = DlabError> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = (code: ErrorCode, message: string, next?: string): Result<never> => ({
  ok: false,
  error: next === undefined ? { code, message } : { code, message, next },
});

/** The exit code a command returns for an error: 2 for bad input, 1 otherwise. */
export function exitCodeFor(e: DlabError): number {
  switch (e.code) {
    case 'unknown-exercise':
    case 'unknown-command':
    case 'bad-usage':
    case 'bad-target':
      return 2;
    default:
      return 1;
  }
}

/** Thrown inside the CLI to unwind to the edge, which prints it; never thrown by library code. */
export class DlabExit extends Error {
  constructor(readonly error: DlabError) {
    super(error.message);
  }
}

export function fail(code: ErrorCode, message: string, next?: string): never {
  throw new DlabExit(next === undefined ? { code, message } : { code, message, next });
}
